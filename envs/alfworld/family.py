"""ALFWorld's registration (see :mod:`envs.family`)."""

from envs.family import ACTION_SYNTAX, EnvFamily

# In the grammar of the default setting: ALFWorld's package logic says "move X to Y" where the
# archived games say "put X in/on Y"; tests play every one of them.
_EXAMPLES = ("go to countertop 1", "take mug 1 from countertop 1", "move mug 1 to coffeemachine 1",
             "open fridge 1", "heat mug 1 with microwave 1", "use desklamp 1")

FAMILY = EnvFamily(
    name="alfworld",
    env_id="resrl/ALFWorld-v0",
    entry_point="envs.alfworld.env:ALFWorldEnv",
    eval_split="eval_out_of_distribution",
    example_actions=_EXAMPLES,
    expert_kwargs={"expert_plan": True},  # the engine's planner, replanned from the current state every step
    system_prompt=f"""You are an agent in a text-based household (ALFWorld). Each turn you read what you \
observe and the actions available to you, and you choose one action to get closer to your task.
Actions look like {", ".join(f'"{a}"' for a in _EXAMPLES)}.
{ACTION_SYNTAX}
For example:
Action: {_EXAMPLES[0]}""",
)
