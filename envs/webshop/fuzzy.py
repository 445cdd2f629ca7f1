"""Fuzzy string matching exactly as WebShop scores it: ``thefuzz`` 0.19's ``token_set_ratio``.

WebShop pins ``thefuzz==0.19.0`` without ``python-Levenshtein``, so its ratios come from the
standard library's ``difflib.SequenceMatcher``, rounded to an integer, after thefuzz's own
preprocessing: characters 128–255 dropped, every non-word character turned into a space,
lower-cased, stripped. Levenshtein-based ratios (rapidfuzz) differ from difflib's often enough to
flip WebShop's ``> 85`` test (e.g. ``18 inch (pack of 1)`` against ``51 inch (pack of 2)``: 88 vs
83), so the scorer is written on difflib here.
"""

from __future__ import annotations

import functools
import re
from difflib import SequenceMatcher

_NON_WORD = re.compile(r"\W", re.IGNORECASE | re.UNICODE)
_LATIN1 = dict.fromkeys(range(128, 256))  # thefuzz's "force_ascii" drops exactly these


def preprocess(text: str) -> str:
    """thefuzz's ``full_process(text, force_ascii=True)``."""
    return _NON_WORD.sub(" ", text.translate(_LATIN1)).lower().strip()


def ratio(a: str, b: str) -> int:
    """``round(100 × difflib ratio)``; 100 for equal strings, 0 when one is empty."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return round(100 * SequenceMatcher(None, a, b).ratio())


@functools.lru_cache(maxsize=262_144)
def token_set_ratio(a: str, b: str) -> int:
    """How well the word sets of ``a`` and ``b`` agree: the best ratio among (shared words) and
    (shared words + each side's own words), words sorted; 0 when either has no words."""
    first, second = preprocess(a), preprocess(b)
    if not first or not second:
        return 0
    words_a, words_b = set(first.split()), set(second.split())
    shared = " ".join(sorted(words_a & words_b))
    with_a = f"{shared} {' '.join(sorted(words_a - words_b))}".strip()
    with_b = f"{shared} {' '.join(sorted(words_b - words_a))}".strip()
    return max(ratio(shared, with_a), ratio(shared, with_b), ratio(with_a, with_b))
