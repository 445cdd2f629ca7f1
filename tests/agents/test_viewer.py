"""The replay viewer in headless Chromium (Debian's, driven by Playwright) against a real viewer
process on run directories the trainer wrote."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from servers.local import local_service
from tests.agents.test_train_cli import CONFIG

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("runs")
    config = root.parent / "viewer-config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    with_curriculum = root.parent / "viewer-curriculum.yaml"  # the resrl run also charts its curriculum level
    curriculum = {"levels": [{"max_steps": 3}, {"max_steps": 4}], "window": 1}
    with_curriculum.write_text(yaml.safe_dump({**CONFIG, "train": {**CONFIG["train"], "curriculum": curriculum}}))
    for algo, iterations in (("resrl", "2"), ("grpo", "1")):
        done = subprocess.run([sys.executable, "-m", "agents.train", "--config",
                               str(with_curriculum if algo == "resrl" else config), "--model",
                               str(tiny_model_dir), "--backend", "hf", "--algo", algo, "--iterations", iterations,
                               "--seed", "1",
                               "--out", str(root / f"{algo}-run")], cwd=REPO, capture_output=True, text=True,
                              timeout=900, env=os.environ)
        assert done.returncode == 0, done.stderr[-3000:]
    # a damaged copy: one good line, a truncated line, a record of an unknown schema version
    broken = root / "broken-run"
    shutil.copytree(root / "grpo-run", broken, ignore=shutil.ignore_patterns("checkpoints", "tb"))
    good = gzip.decompress((broken / "trajectories" / "iter-000001.jsonl.gz").read_bytes()).splitlines()[0]
    future = json.dumps({**json.loads(good), "schema_version": 99})
    (broken / "trajectories" / "iter-000001.jsonl.gz").write_bytes(
        gzip.compress(good + b"\n" + good[: len(good) // 2] + b"\n" + future.encode() + b"\n"))
    return root


@pytest.fixture(scope="module")
def viewer(runs: Path) -> Iterator[str]:
    with local_service("agents.viewer", str(runs), cwd=REPO, env=os.environ) as url:
        yield url


def test_the_viewer_in_a_browser(viewer: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(viewer)
        expect(page.locator("#runs li.run")).to_have_count(3)  # the list loads

        page.select_option("#filter-algo", "grpo")  # filters filter
        expect(page.locator("#runs li.run")).to_have_count(2)
        page.select_option("#filter-algo", "resrl")
        expect(page.locator("#runs li.run")).to_have_count(1)

        page.locator("#runs li.run").first.click()
        expect(page.locator("#list li.traj")).to_have_count(4)  # 2 tasks x 2 samples
        expect(page.locator("#charts .chart")).not_to_have_count(0)
        expect(page.locator('#charts .chart[data-metric="curriculum level"]')).to_have_count(1)
        expect(page.locator('#charts .chart[data-metric="rollout vs trainer |Δ log p|"]')).to_have_count(1)
        page.select_option("#filter-outcome", "success")
        expect(page.locator("#list li.traj")).to_have_count(0)  # a random tiny model solves nothing
        page.select_option("#filter-outcome", "")
        page.fill("#search", "no such words anywhere")
        expect(page.locator("#list li.traj")).to_have_count(0)
        page.fill("#search", "")
        expect(page.locator("#list li.traj")).to_have_count(4)

        page.locator("#list li.traj").first.click()  # a trajectory opens
        expect(page.locator("#turns .turn")).not_to_have_count(0)
        turns = page.locator("#turns .turn").count()
        expect(page.locator("#turn-counter")).to_have_text(f"turn 1 of {turns}")
        page.keyboard.press("ArrowRight")  # stepping works
        expect(page.locator("#turn-counter")).to_have_text(f"turn {min(2, turns)} of {turns}")
        expect(page.locator(".turn.current")).to_have_attribute("data-turn", str(min(1, turns - 1)))
        page.keyboard.press("ArrowLeft")
        expect(page.locator("#turn-counter")).to_have_text(f"turn 1 of {turns}")

        page.click("#tab-tokens")  # weights colour the tokens; env tokens are set apart
        agent = page.locator("#tokens span.tok.agent[data-weight]")
        expect(agent.first).to_be_visible()
        assert agent.first.get_attribute("title").startswith("ω = ")  # type: ignore[union-attr]
        assert agent.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        expect(page.locator("#tokens span.tok.env").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "viewer-tokens.png"), full_page=True)

        page.click("#tab-group")
        expect(page.locator("#group .sample")).to_have_count(2)  # the task's two samples, side by side

        page.select_option("#filter-algo", "")
        page.locator("#runs li.run[data-name='broken-run']").click()  # damage is reported, not a crash
        expect(page.locator("#problems")).to_contain_text("line 2")
        expect(page.locator("#problems")).to_contain_text("schema version 99")
        expect(page.locator("#list li.traj")).to_have_count(1)
        browser.close()
    assert (tmp_path / "viewer-tokens.png").stat().st_size > 10_000


def test_nothing_outside_the_runs_can_be_read(viewer: str) -> None:
    for path in ("/api/runs/..%2F..%2Fetc/metrics", "/api/runs/%2Fetc/metrics", "/static/..%2F..%2Fpyproject.toml",
                 "/static/../../pyproject.toml", "/api/runs/grpo-run/iterations/1/trajectories/999",
                 "/api/runs/grpo-run%2F..%2F..%2F..%2Fetc/metrics"):
        response = httpx.get(viewer + path)
        assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert httpx.post(f"{viewer}/api/runs").status_code == 405  # read-only
