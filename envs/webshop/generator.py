"""A built-in catalogue for the offline default: products and goals that WebShop's reward can score.

Every goal describes a product that exists, with attributes the product really has, option values
it really offers, and a price limit above its price; only goals whose target the BM25 search finds
for the goal's query (within the 50 results WebShop lists) are kept. Deterministic for a seed.

With WebShop's data given (``attributes_path``: ``items_ins_v2*.json``; ``human_goals_path``:
``human_goals.json``) the product types and their attributes come from the real attribute file
(its "Find me <attributes> <type> with <attributes>" instructions), and the size and colour values
offered are the ones people ask for most in the 12,087 human instructions. Without them, a small
vocabulary of its own stands in.
"""

from __future__ import annotations

import collections
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from envs.webshop.products import Catalogue, Goal, Product, price_limit, with_price
from envs.webshop.search import shared_index

COLOURS = ("black", "white", "blue", "red", "green", "pink", "grey", "gray", "brown", "beige", "navy", "purple",
           "yellow", "orange", "silver", "gold", "khaki", "ivory", "teal", "burgundy", "multicolor", "clear")
SIZES = ("small", "medium", "large", "x-large", "xx-large", "one size", "6", "7", "8", "9", "10", "11", "12 inch",
         "16 oz", "pack of 2", "pack of 6")
FLAVOURS = ("vanilla", "chocolate", "strawberry", "mint", "original", "honey", "lemon", "caramel")
BRANDS = ("Alder & Co", "Brightwell", "Cobalt Lane", "Dunmore", "Everkind", "Fernhill", "Greystone", "Halcyon",
          "Ironbark", "Juniper Row", "Kestrel", "Larkspur", "Meridian", "Northvale", "Oakhurst", "Pinecrest")
# category -> [(product type, attribute pool)]
VOCABULARY: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "beauty": [("shampoo", ("sulfate free", "paraben free", "natural ingredients", "dry hair", "long lasting")),
               ("face serum", ("hyaluronic acid", "cruelty free", "sensitive skin", "fine lines", "easy use")),
               ("hair extension", ("natural hair", "high quality", "easy apply", "long lasting", "heat resistant"))],
    "electronics": [("bluetooth headphones", ("noise cancelling", "wireless bluetooth", "long battery life",
                                               "hands free", "easy carry")),
                    ("usb microphone", ("noise cancelling", "plug play", "high definition", "easy use", "desktop")),
                    ("phone case", ("shock absorption", "easy install", "wireless charging", "slim fit", "clear"))],
    "fashion": [("running shoes", ("rubber sole", "non slip", "arch support", "lightweight", "breathable")),
                ("hoodie", ("machine wash", "long sleeve", "classic fit", "fleece lined", "soft material")),
                ("t-shirt", ("short sleeve", "machine wash", "cotton", "slim fit", "relaxed fit"))],
    "food": [("protein bars", ("gluten free", "low sugar", "high protein", "non gmo", "individually wrapped")),
             ("green tea", ("caffeine free", "organic", "low calorie", "non gmo", "natural ingredients"))],
    "furniture": [("nightstand", ("storage space", "easy assemble", "living room", "solid wood", "bedroom")),
                  ("office chair", ("lumbar support", "height adjustable", "easy assemble", "home office",
                                    "heavy duty"))],
    "garden": [("planter", ("drainage hole", "weather resistant", "easy clean", "indoor outdoor", "ceramic")),
               ("string lights", ("waterproof", "remote control", "easy install", "energy saving", "outdoor"))],
}


@dataclass(frozen=True)
class _Kind:
    category: str
    type: str
    attributes: tuple[str, ...]
    option_types: tuple[str, ...]


def generate_catalogue(*, seed: int = 0, num_products: int = 1000, attributes_path: str | Path | None = None,
                       human_goals_path: str | Path | None = None) -> Catalogue:
    """Products and goals as described in the module docstring."""
    rng = random.Random(seed)
    kinds = _real_kinds(Path(attributes_path)) if attributes_path else _own_kinds()
    colours, sizes = _asked_for(Path(human_goals_path)) if human_goals_path else (COLOURS, SIZES)
    values = {"color": colours, "size": sizes, "flavor": FLAVOURS}
    products: list[Product] = []
    asins: set[str] = set()
    for number in range(num_products):
        kind = kinds[number % len(kinds)] if number < len(kinds) else rng.choice(kinds)
        asin = _asin(rng, asins)
        attributes = tuple(rng.sample(kind.attributes, min(len(kind.attributes), rng.randint(2, 4))))
        options = {name: rng.sample(values[name], rng.randint(2, min(5, len(values[name]))))
                   for name in kind.option_types}
        brand = rng.choice(BRANDS)
        edition = rng.choice(["Premium", "Classic", "Everyday", "Pro"])
        title = f"{brand} {_capitalised(kind.type)} - {_capitalised(attributes[0])}, {edition} Edition"
        price = round(rng.uniform(5, 150), 2)
        products.append(Product(
            asin=asin, title=title, price=price, price_tag=f"${price}", category=kind.category, query=kind.type,
            product_category=f"{_capitalised(kind.category)} › {_capitalised(kind.type)} › {brand}",
            description=f"The {brand} {kind.type} is made to be {', '.join(attributes[1:]) or attributes[0]}.",
            bullet_points=tuple(f"{a.capitalize()}: designed with {a} in mind" for a in attributes),
            attributes=attributes, options=options, rating=f"{rng.uniform(3, 5):.1f}",
        ))
    catalogue = Catalogue({p.asin: p for p in products}, [], _source(seed, num_products, attributes_path,
                                                                      human_goals_path))
    index = shared_index(catalogue)  # built once, and kept for the envs that use this catalogue
    goals = []
    for product in products:
        wanted = tuple(rng.sample(product.attributes, rng.randint(1, min(2, len(product.attributes)))))
        chosen = tuple(rng.choice(choices) for choices in product.options.values())
        upper = price_limit(product.price, rng)
        query = f"{product.query} {' '.join(wanted)}"
        if product.asin not in index.search(query):
            continue  # not reachable by search: no goal for it
        goals.append(Goal(asin=product.asin, instruction=with_price(_instruction(rng, product, wanted, chosen), upper),
                          attributes=wanted, options=chosen, price_upper=upper, query=query))
    rng.shuffle(goals)
    catalogue.goals = goals
    return catalogue


def _instruction(rng: random.Random, product: Product, attributes: tuple[str, ...], options: tuple[str, ...]) -> str:
    opener = rng.choice(["i need", "i am looking for", "find me", "i want to buy", "can you get me"])
    text = f"{opener} {product.query} that is {' and '.join(attributes)}"
    described = [f"in {value}" if name == "color" else f"{name} {value}"
                 for name, value in zip(product.options, options, strict=True)]
    return f"{text}, {', '.join(described)}" if described else text


def _capitalised(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        asin = "B" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9))
        if asin not in taken:
            taken.add(asin)
            return asin


def _own_kinds() -> list[_Kind]:
    option_types = {"food": ("flavor", "size"), "furniture": ("color",), "garden": ("color", "size")}
    return [_Kind(category, kind, attributes, option_types.get(category, ("color", "size")))
            for category, items in VOCABULARY.items() for kind, attributes in items]


def _real_kinds(path: Path) -> list[_Kind]:
    """Product types and attributes from WebShop's attribute file: its synthetic instructions read
    "Find me <attributes> <type> with/for <attributes>"; removing the attributes leaves the type."""
    records = json.loads(path.read_text(encoding="utf-8"))
    kinds = []
    for record in records.values():
        instruction, attributes = record.get("instruction"), record.get("attributes") or []
        if not instruction or len(attributes) < 2:
            continue
        text = instruction.lower().removeprefix("find me ")
        for attribute in sorted(attributes, key=len, reverse=True):
            text = text.replace(attribute.lower(), " ")
        kind = re.split(r"\s(?:with|for)\s", f" {text} ")[0]
        kind = " ".join(kind.replace(",", " ").split())
        if kind and len(kind) < 60:
            food = any(word in kind for word in ("snack", "tea", "coffee", "food", "candy", "sauce", "drink"))
            kinds.append(_Kind("grocery" if food else "home", kind, tuple(attributes),
                               ("flavor", "size") if food else ("color", "size")))
    if not kinds:
        raise ValueError(f"{path} holds no instructions to take product types from")
    return kinds


def _asked_for(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The colours and sizes the human instructions ask for most (at least 5 times each)."""
    goals = json.loads(path.read_text(encoding="utf-8"))
    words = collections.Counter(w for goal in goals for w in re.findall(r"[a-z]+", goal.lower()))
    colours = tuple(c for c in sorted(COLOURS, key=lambda c: -words[c]) if words[c] >= 5)
    size = re.compile(r"size\s+((?:x+-)?(?:small|medium|large)|\d+(?:\.\d+)?)")
    sizes = collections.Counter(m.strip() for goal in goals for m in size.findall(goal.lower()))
    common = tuple(size for size, count in sizes.most_common(24) if count >= 5)
    return colours or COLOURS, common or SIZES


def _source(seed: int, count: int, attributes: str | Path | None, human: str | Path | None) -> str:
    parts = [f"generated catalogue (seed {seed}, {count} products"]
    parts.append(f"types and attributes from {attributes}" if attributes else "built-in vocabulary")
    if human:
        parts.append(f"sizes and colours from {human}")
    return ", ".join(parts) + ")"
