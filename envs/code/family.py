"""Code's registration (see :mod:`envs.family`)."""

from envs.family import EnvFamily

FAMILY = EnvFamily(
    name="code",
    env_id="resrl/Code-v0",
    entry_point="envs.code.env:CodeEnv",
    whole_reply=True,  # the env runs the reply's code block
    system_prompt="""You are an expert Python programmer. Each turn you get a function to write, or the test \
output of your last attempt. Reply with the complete function (imports included) in one ```python block.""",
)
