"""WebShop's registration (see :mod:`envs.family`)."""

from envs.family import ACTION_SYNTAX, EnvFamily

_EXAMPLES = ("search[blue wireless headphones]", "click[Buy Now]", "search[long clip-in hair extension]")

FAMILY = EnvFamily(
    name="webshop",
    env_id="resrl/WebShop-v0",
    entry_point="envs.webshop.env:WebShopEnv",
    example_actions=_EXAMPLES,
    system_prompt=f"""You are shopping online (WebShop) for the product the instruction describes. On the \
search page you can search; on other pages you click what the page lists in [brackets]: a product, \
its options (choose the ones the instruction asks for), "< Prev", "Next >", "Back to Search", and \
"Buy Now" when the product and options are right.
Actions look like "{_EXAMPLES[0]}" or "{_EXAMPLES[1]}".
{ACTION_SYNTAX}
For example:
Action: {_EXAMPLES[2]}""",
)
