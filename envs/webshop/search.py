"""BM25 search over a catalogue, one index per catalogue shared by every env (and server session) in a process."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envs.webshop.products import Catalogue

MAX_RESULTS = 50  # WebShop lists 50 hits, 10 per page
_indexes: weakref.WeakKeyDictionary[Catalogue, SearchIndex] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class SearchIndex:
    """``bm25s`` with Lucene's BM25 (k1 0.9, b 0.4, English stop words, Snowball stemming), which
    matched the Lucene index WebShop uses on 98 of 100 top hits (environments.md)."""

    def __init__(self, catalogue: Catalogue) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self.asins = list(catalogue.products)
        texts = [catalogue.products[asin].search_text() for asin in self.asins]
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)
        self._retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
        self._retriever.index(tokens, show_progress=False)
        self._lock = threading.Lock()

    def search(self, query: str, k: int = MAX_RESULTS) -> list[str]:
        """The ASINs of the best ``k`` matches, best first (none when no query word is indexed)."""
        tokens = self._bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False,
                                      return_ids=False)
        if not tokens or not tokens[0]:
            return []
        k = min(k, len(self.asins))
        with self._lock:
            documents, scores = self._retriever.retrieve(tokens, k=k, show_progress=False)
        return [self.asins[int(d)] for d, s in zip(documents[0], scores[0], strict=True) if s > 0]


def shared_index(catalogue: Catalogue) -> SearchIndex:
    """The catalogue's index, built on first use and then shared."""
    with _lock:
        index = _indexes.get(catalogue)
        if index is None:
            index = _indexes[catalogue] = SearchIndex(catalogue)
        return index
