"""``resrl/WebShop-v0``: the reward's parts on hand-made products, a scripted expert on every
generated goal, bad input, the real-file loader, and flat memory over many episodes."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import pytest

import envs
from envs.checker import check_env
from envs.webshop.env import WebShopEnv, catalogue, expert_actions
from envs.webshop.fuzzy import token_set_ratio
from envs.webshop.generator import generate_catalogue
from envs.webshop.products import Goal, Product, load_real_catalogue, parse_price
from envs.webshop.reward import get_reward, normalize_color, title_nouns, type_factor

TEE = Product(asin="B000000001", title="Everkind Cotton T-Shirt for Men", price=19.99, price_tag="$19.99",
              category="fashion", query="t-shirt", product_category="Fashion › Men › Shirts",
              description="A breathable shirt.", bullet_points=("Machine wash cold",),
              attributes=("short sleeve", "slim fit"), options={"color": ["navy blue", "white"], "size": ["large"]})
LAMP = Product(asin="B000000002", title="Brightwell Desk Lamp", price=29.0, price_tag="$29.0", category="home",
               query="desk lamp", product_category="Home › Lighting › Lamps", description="", bullet_points=(),
               attributes=("energy saving",), options={"color": ["black"]})


def goal(**changes: object) -> Goal:
    fields: dict[str, object] = {"asin": TEE.asin, "instruction": "x", "attributes": ("short sleeve", "machine wash"),
                                 "options": ("blue", "large"), "price_upper": 30.0, "query": "t-shirt"}
    return Goal(**{**fields, **changes})  # type: ignore[arg-type]


# -- the reward, part by part ---------------------------------------------------------------------------
def test_attributes_match_fuzzily_or_in_the_text() -> None:
    # "short sleeve" is an attribute; "machine wash" only appears in a bullet point: both count
    parts = get_reward(TEE, TEE.price, {"color": "navy blue", "size": "large"}, goal(), TEE)
    assert parts.r_att == 1.0 and parts.total == 1.0 and parts.r_price is True
    parts = get_reward(TEE, TEE.price, {"color": "navy blue", "size": "large"}, goal(attributes=("short sleeves",
                                                                                                  "wool")), TEE)
    assert parts.r_att == 0.5  # "short sleeves" ~ "short sleeve" (ratio > 85); "wool" nowhere


def test_options_are_matched_after_colour_normalisation() -> None:
    assert normalize_color("navy blue") == "blue" and normalize_color("light blue") == "blue"
    assert normalize_color("xx-large") == "xx-large"
    assert get_reward(TEE, TEE.price, {"color": "white"}, goal(), TEE).r_option == 0.0
    parts = get_reward(TEE, TEE.price, {"color": "navy blue"}, goal(), TEE)
    assert parts.r_option == 0.5  # "navy blue" is blue; the size was not chosen
    assert parts.total == pytest.approx((2 + 1 + 1) / (2 + 2 + 1))


# Scores of thefuzz 0.19.0 (WebShop's pin, pure-Python difflib: not symmetric), recorded from it.
# WebShop calls it with the bought product's value first and matches above 85.
THEFUZZ_0_19 = [("7.5", "5", 100), ("10.5", "10", 100), ("xl", "XL", 100), ("pack of 2", "12 inch (pack of 1)", 88),
                ("51 inch (pack of 2)", "18 inch (pack of 1)", 88), ("18 inch (pack of 1)", "51 inch (pack of 2)", 83),
                ("open toe", "low rise", 25), ("low rise", "open toe", 38), ("home office", "touch screen", 9),
                ("Größe 5", "grosse 5", 77), ("", "x", 0), ("!!", "!!", 0)]


@pytest.mark.parametrize(("a", "b", "expected"), THEFUZZ_0_19)
def test_fuzzy_scores_are_thefuzz_0_19s(a: str, b: str, expected: int) -> None:
    assert token_set_ratio(a, b) == expected


def test_options_match_as_webshop_matches_them() -> None:
    """Sizes after WebShop's preprocessing (lower case, punctuation as spaces) and difflib's ratio."""
    def r_option(wanted: str, chosen: str) -> float | None:
        return get_reward(TEE, TEE.price, {"size": chosen}, goal(options=(wanted,)), TEE).r_option

    assert r_option("7.5", "5") == r_option("10", "10.5") == r_option("XL", "xl") == 1.0
    assert r_option("12 inch (pack of 1)", "pack of 2") == 1.0
    assert r_option("51 inch (pack of 2)", "18 inch (pack of 1)") == 0.0  # 83 with difflib (88 with Levenshtein)


def test_colours_normalise_with_webshops_list() -> None:
    def r_option(wanted: str, chosen: str) -> float | None:
        return get_reward(TEE, TEE.price, {"color": chosen}, goal(options=(wanted,)), TEE).r_option

    assert normalize_color("dark grey") == normalize_color("dark green") == "dark"
    assert r_option("light blue", "sky blue") == r_option("dark grey", "dark green") == 1.0
    assert r_option("grey", "dark grey") == 0.0


def test_title_score_counts_the_targets_repeated_nouns() -> None:
    target = Product(**{**TEE.__dict__, "title": "Shirt Rack with Shirt Hangers for Shirt Closet"})
    bought = Product(**{**TEE.__dict__, "query": "other", "product_category": "Other › Things",
                        "title": "Shirt Box"})
    desired = title_nouns(target.title)
    assert desired.count("shirt") == 3  # a list: WebShop divides by every noun, repeats included
    _, _, _, title_score = type_factor(bought, target)
    assert title_score == pytest.approx(len(set(title_nouns(bought.title)) & set(desired)) / len(desired))
    assert title_score < len(set(title_nouns(bought.title)) & set(desired)) / len(set(desired))


def test_price_over_the_limit_costs_one_part() -> None:
    parts = get_reward(TEE, 45.0, {"color": "navy blue", "size": "large"}, goal(), TEE)
    assert parts.r_price is False and parts.total == pytest.approx(4 / 5)


def test_type_factor() -> None:
    assert type_factor(TEE, TEE)[0] == 1.0
    factor, query_match, category_match, title_score = type_factor(LAMP, TEE)
    assert (factor, query_match, category_match, title_score) == (0.0, False, False, 0.0)  # no shared title noun
    cousin = Product(**{**TEE.__dict__, "query": "polo", "product_category": "Sports › Golf",
                        "title": "Brightwell Desk Shirt Lamp Cable Stand Light Box"})
    factor, query_match, category_match, title_score = type_factor(cousin, TEE)
    assert not query_match and not category_match and 0.1 <= title_score <= 0.2 and factor == 0.5
    assert get_reward(LAMP, LAMP.price, {}, goal(), TEE).total == 0.0  # the wrong kind of product scores 0


def test_prices_are_parsed_as_webshop_does() -> None:
    assert parse_price("$34.00") == ([34.0], "$34.0")
    assert parse_price("$10.99 - $20.99") == ([10.99, 20.99], "$10.99 to $20.99")
    assert parse_price("") == ([100.0], "$100.0")


# -- the env ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(split="all")


@pytest.mark.parametrize("data", ["shared", "own vocabulary"])
def test_a_scripted_expert_scores_1_on_every_generated_goal(data: str, shared_data: Path) -> None:
    if data == "shared":
        shop = WebShopEnv(split="all", data_path=str(shared_data / "webshop"))
        assert "items_ins_v2" in shop.catalogue.source and "human_goals" in shop.catalogue.source
    else:
        shop = WebShopEnv(split="all", source="generated", data_path="/nonexistent", num_products=300)
        assert "built-in vocabulary" in shop.catalogue.source
    assert shop.num_tasks >= 0.9 * len(shop.catalogue.products)
    for index in range(shop.num_tasks):
        shop.reset(options={"task_index": index})
        for action in expert_actions(shop, shop._goal):
            _, reward, terminated, _, info = shop.step(action)
            assert not info["invalid_action"], (action, info)
        assert terminated and reward == 1.0 and info["success"], (index, info["reward_parts"])


def test_wrong_products_and_options_get_partial_rewards(env: WebShopEnv) -> None:
    env.reset(options={"task_index": 0})
    target = env.catalogue.products[env._goal.asin]
    actions = expert_actions(env, env._goal)
    for action in actions[:-1 - len(env._goal.options)]:  # open the target, choose no option
        env.step(action)
    _, reward, terminated, _, info = env.step("click[Buy Now]")
    goal_ = env._goal
    assert terminated and info["reward_parts"]["r_option"] == 0.0
    assert reward == pytest.approx((len(goal_.attributes) + 1) / (len(goal_.attributes) + len(goal_.options) + 1))
    # another product from the same search, with the target's type
    env.reset(options={"task_index": 0})
    env.step(actions[0])
    other = next(a for a in env.index.search(goal_.query) if a != target.asin)
    env.step(f"click[{other}]")
    _, reward, terminated, _, info = env.step("click[Buy Now]")
    expected = get_reward(env.catalogue.products[other], env.catalogue.products[other].price, {}, goal_, target)
    assert terminated and reward == pytest.approx(expected.total) and reward < 1.0


def test_exact_mode_pays_only_a_purchase_that_meets_the_whole_instruction() -> None:
    shop = WebShopEnv(split="eval", reward_mode="exact")
    shop.reset(options={"task_index": 0})
    actions = expert_actions(shop, shop._goal)
    for action in actions[:-1 - len(shop._goal.options)]:  # the target without its options: partial credit
        shop.step(action)
    _, reward, terminated, _, info = shop.step("click[Buy Now]")
    assert terminated and reward == 0.0 and not info["success"] and 0.0 < info["reward_parts"]["total"] < 1.0
    shop.reset(options={"task_index": 0})
    for action in actions:
        _, reward, terminated, _, info = shop.step(action)
    assert terminated and reward == 1.0 and info["success"]
    with pytest.raises(ValueError, match="reward_mode"):
        WebShopEnv(reward_mode="partial")


def test_bad_input_is_reported_and_changes_nothing(env: WebShopEnv) -> None:
    env.reset(options={"task_index": 1})
    for action in ("click[Buy Now]", "search[]", "search[" + "x" * 100_000 + "]", "search[shoes",
                   "search[a]b]", "buy[shoes]", "click[]"):
        observation, reward, terminated, _, info = env.step(action)
        assert info["invalid_action"] and reward == 0.0 and not terminated, action
        assert observation.startswith(("Invalid action", env.invalid_observation)), (action, observation)
        assert env._page.kind == "search"
    env.step(f"search[{env._goal.query}]")
    page = (env._page.kind, env._page.page, list(env._page.hits))
    for action in ("click[B000NOTHERE]", "click[Description]", "search[again]", "click[< Prev]", "click[Next >>]"):
        observation, _, _, _, info = env.step(action)
        assert info["invalid_action"], action
        assert (env._page.kind, env._page.page, list(env._page.hits)) == page


def test_pages_and_available_actions(env: WebShopEnv) -> None:
    _, info = env.reset(options={"task_index": 2})
    assert info["available_actions"] is None  # the search box takes free text
    _, _, _, _, info = env.step("search[edition]")  # in every generated title: 50 results, 5 pages
    assert "click[Back to Search]" in info["available_actions"] and "click[Next >]" in info["available_actions"]
    _, _, _, _, info = env.step("click[Next >]")
    assert "click[< Prev]" in info["available_actions"]
    hit = next(a for a in info["available_actions"] if a[6:-1] in env.catalogue.products)
    observation, _, _, _, info = env.step(hit)
    assert "click[Buy Now]" in info["available_actions"] and "Price:" in observation
    observation, _, _, _, info = env.step("click[Features]")
    assert info["available_actions"] == ["click[Back to Search]", "click[< Prev]"]
    env.step("click[< Prev]")
    env.step("click[< Prev]")
    assert env._page.kind == "results" and env._page.page == 2


def test_generation_is_deterministic_and_the_index_is_shared(env: WebShopEnv) -> None:
    a, b = (generate_catalogue(seed=3, num_products=50) for _ in range(2))
    assert list(a.products.values()) == list(b.products.values()) and a.goals == b.goals
    assert generate_catalogue(seed=4, num_products=50).goals != a.goals
    other = WebShopEnv(split="eval")
    assert other.catalogue is env.catalogue and other.index is env.index  # built once per process
    assert len(other.goals) == min(500, len(env.goals) // 5)
    assert catalogue() is env.catalogue


def test_the_real_file_format_loads(tmp_path: Path, shared_data: Path) -> None:
    source = shared_data / "webshop"
    shutil.copy(source / "items_ins_v2_1000.json", tmp_path)
    human = json.loads((source / "sample_items_human_ins.json").read_text())
    products = json.loads((source / "sample_items_shuffle.json").read_text())
    products[2]["customization_options"] = {"Color": [{"value": "Rustic Brown/Black ", "image": None}], "Size": None}
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(products))
    # the sample goals are for products outside the sample catalogue: aim one at a sample product
    record = dict(next(iter(human.values()))[0], asin=products[2]["asin"])
    human[products[2]["asin"]] = [record]
    (tmp_path / "items_human_ins.json").write_text(json.dumps(human))
    loaded = load_real_catalogue(tmp_path)
    assert len(loaded.products) == 4 and len(loaded.goals) == 1
    lamp = loaded.products[products[2]["asin"]]
    assert lamp.price == 557.72 and lamp.options == {"color": ["rustic brown | black"]}  # WebShop's normalisation
    assert loaded.products[products[1]["asin"]].price == 100.0  # no price: WebShop's default
    assert loaded.goals[0].instruction.endswith("dollars") and loaded.goals[0].price_upper > 557.72
    shop = WebShopEnv(data_path=str(tmp_path), split="all")
    assert shop.catalogue.source.startswith("real WebShop files") and shop.num_tasks == 1
    with pytest.raises(FileNotFoundError, match="items_shuffle"):
        WebShopEnv(source="files", data_path=str(tmp_path / "missing"))


def test_the_contract() -> None:
    check_env(envs.make_env({"id": "resrl/WebShop-v0", "kwargs": {"split": "eval"}}))


@pytest.mark.slow
def test_memory_stays_flat_over_ten_thousand_episodes(env: WebShopEnv) -> None:
    def episodes(count: int) -> None:
        for index in range(count):
            env.reset(options={"task_index": index % env.num_tasks})
            env.step(f"search[{env._goal.query}]")
            env.step(f"click[{env._goal.asin}]")
            env.step("click[Buy Now]")

    episodes(env.num_tasks)  # every title parsed once (the noun cache is bounded) before measuring
    tracemalloc.start()
    episodes(1000)
    after_warmup = tracemalloc.get_traced_memory()[0]
    episodes(9000)
    grown = tracemalloc.get_traced_memory()[0] - after_warmup
    tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown} bytes more after 9,000 more episodes"
