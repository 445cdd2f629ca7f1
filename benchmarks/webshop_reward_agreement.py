"""How often our WebShop reward equals the original's, case for case.

Runs princeton-nlp/WebShop's own ``get_reward`` (``web_agent_site/engine/goal.py`` and
``normalize.py`` from a checkout you give, with ``thefuzz==0.19.0`` as WebShop pins it) beside
``envs.webshop.reward.get_reward`` on the same (goal, bought product, chosen options, price) cases:
for each goal of the built-in catalogues (from WebShop's attribute file when it is there, and from the
generator's own vocabulary), buying the target with the goal's options, with other options, the
goal's search hits and random products. Both sides tag nouns with the same spaCy model, so what is
compared is the logic. The baseline is the original's score; the figure is the share of cases where
ours equals it, in total and per part.

    git clone https://github.com/princeton-nlp/WebShop /tmp/WebShop
    python -m venv /tmp/thefuzz && /tmp/thefuzz/bin/pip install thefuzz==0.19.0
    python benchmarks/webshop_reward_agreement.py --webshop /tmp/WebShop \\
        --thefuzz /tmp/thefuzz/lib/python3.11/site-packages [--goals 400]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

from envs.webshop.env import catalogue
from envs.webshop.generator import generate_catalogue
from envs.webshop.products import Catalogue, Goal, Product
from envs.webshop.reward import _nlp, get_reward


def load_original(webshop: Path, thefuzz: Path) -> Any:
    """WebShop's goal.py as a module, its spaCy model swapped for ours and thefuzz 0.19 on the path."""
    sys.path.insert(0, str(thefuzz))
    import spacy

    engine = webshop / "web_agent_site" / "engine"
    package = types.ModuleType("web_agent_site.engine")
    package.__path__ = [str(engine)]
    sys.modules.setdefault("web_agent_site", types.ModuleType("web_agent_site"))
    sys.modules["web_agent_site.engine"] = package
    ours = _nlp()
    load, spacy.load = spacy.load, lambda *_args, **_kwargs: ours
    try:
        for name in ("normalize", "goal"):
            spec = importlib.util.spec_from_file_location(f"web_agent_site.engine.{name}", engine / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
    finally:
        spacy.load = load
    return sys.modules["web_agent_site.engine.goal"]


def as_webshop(product: Product) -> dict[str, Any]:
    return {"query": product.query, "product_category": product.product_category, "name": product.title,
            "Title": product.title, "Attributes": list(product.attributes), "BulletPoints": list(product.bullet_points),
            "Description": product.description}


def cases(shop: Catalogue, goals: int, rng: random.Random) -> list[tuple[Goal, Product, dict[str, str]]]:
    products = list(shop.products.values())
    found = []
    for goal in shop.goals[:goals]:
        target = shop.products[goal.asin]
        wanted = {kind: next((v for v in values if v in goal.options), values[0])
                  for kind, values in target.options.items()}
        other = {kind: rng.choice(values) for kind, values in target.options.items()}
        same_query = [p for p in products if p.query == target.query and p.asin != target.asin][:3]
        for product, chosen in [(target, wanted), (target, other), (target, {}),
                                *((p, {k: rng.choice(v) for k, v in p.options.items()}) for p in same_query),
                                *((p, {}) for p in rng.sample(products, 3))]:
            found.append((goal, product, chosen))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webshop", type=Path, required=True, help="a checkout of princeton-nlp/WebShop")
    parser.add_argument("--thefuzz", type=Path, required=True, help="site-packages holding thefuzz 0.19.0")
    parser.add_argument("--goals", type=int, default=400, help="goals per catalogue")
    args = parser.parse_args()
    original = load_original(args.webshop, args.thefuzz)
    rng = random.Random(0)
    shops = {"generated from WebShop's attribute file": catalogue("generated"),
             "generated from the built-in vocabulary": generate_catalogue(seed=0)}
    print(f"{'catalogue':42} {'cases':>6} {'total':>8} {'type':>8} {'options':>8} {'attributes':>10}")
    for name, shop in shops.items():
        agree: Counter[str] = Counter()
        found = cases(shop, args.goals, rng)
        for goal, product, chosen in found:
            target = shop.products[goal.asin]
            ours = get_reward(product, product.price, chosen, goal, target)
            goal_dict = {"query": target.query, "product_category": target.product_category, "name": target.title,
                         "attributes": list(goal.attributes), "price_upper": goal.price_upper,
                         "goal_options": list(goal.options)}
            theirs, parts = original.get_reward(as_webshop(product), goal_dict, product.price, chosen, verbose=True)
            agree["total"] += abs(ours.total - theirs) < 1e-9
            agree["type"] += ours.r_type == parts["r_type"] and abs(ours.title_score - parts["title_score"]) < 1e-9
            agree["options"] += ours.r_option == parts.get("r_option")
            agree["attributes"] += abs(ours.r_att - parts["r_att"]) < 1e-9
        share = {key: f"{100 * agree[key] / len(found):.2f}%" for key in ("total", "type", "options", "attributes")}
        print(f"{name:42} {len(found):>6} {share['total']:>8} {share['type']:>8} {share['options']:>8} "
              f"{share['attributes']:>10}")


if __name__ == "__main__":
    main()
