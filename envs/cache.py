"""The project's cache directory, and publishing directories into it atomically.

Extracted archives, generated games and converted models all land here; each is built in a
staging directory and renamed into place, so a reader sees a complete copy or none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """Where extracted archives, generated games and converted models live (``$RESRL_GYM_CACHE`` overrides)."""
    return Path(os.environ.get("RESRL_GYM_CACHE") or Path.home() / ".cache" / "resrl-gym")


@contextmanager
def publish_directory(target: Path) -> Iterator[Path]:
    """Yield a fresh staging directory beside ``target``; when the block succeeds, rename it
    to ``target`` in one step, so readers see a complete directory or none. If another
    process published ``target`` first, its copy is kept (it is equivalent)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        yield staging
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
