"""BFCL's registration (see :mod:`envs.family`)."""

from envs.family import EnvFamily

FAMILY = EnvFamily(
    name="bfcl",
    env_id="resrl/BFCL-v0",
    entry_point="envs.bfcl.env:BFCLEnv",
    whole_reply=True,  # the env reads the calls out of the reply
    system_prompt="""You are an expert in composing functions. You are given a question and a set of possible \
functions. Based on the question, make one or more function calls to achieve the purpose. To call \
functions, reply with only a Python list of calls, with every argument by keyword, e.g.
[func_name1(param=value), func_name2(param=value)]
If none of the functions can be used, or the request lacks parameters a function requires, say so \
in plain words instead. Function results come back to you; when the task is done, answer in plain words.""",
)
