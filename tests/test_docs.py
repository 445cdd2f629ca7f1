"""Every page of docs/ that the code, configs and docs cite exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"docs/[\w./-]+?\.(?:md|png)")
SOURCES = ("agents", "envs", "resrl", "sandbox", "servers", "benchmarks", "configs", "docs", "tests", "docker")


def test_every_cited_doc_exists() -> None:
    files = [REPO / "README.md", *(p for top in SOURCES for p in (REPO / top).rglob("*")
                                  if p.suffix in {".py", ".md", ".yaml", ".yml", ".js", ".html"})]
    cited = {(path.relative_to(REPO), name) for path in files for name in CITATION.findall(path.read_text())}
    assert len({name for _, name in cited}) >= 3  # resrl.md, results.md, training.md at least
    missing = sorted(f"{path}: {name}" for path, name in cited if not (REPO / name).is_file())
    assert not missing, missing
