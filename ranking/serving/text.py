"""Text signals of the spec: a tweet's words, and the profile of words a
viewer reacted to. Both evaluators use these same functions (the serving
features per build, the training examples per impression)."""

import functools
import math
from collections import Counter

import numpy as np
from django.conf import settings

from ranking.spec import ACTIONS, NEGATIVES, Kind

PUNCTUATION = "#@.,!?:;\"'()"


@functools.lru_cache(maxsize=100_000)
def tokens(text: str) -> tuple[str, ...]:
    """The words of a tweet, as the text-affinity feature counts them. Cached:
    a worker meets the same tweets in many viewers' candidates and histories."""
    return tuple(word for word in (w.strip(PUNCTUATION) for w in text.lower().split()) if word)


class TextProfile:
    """The words of what a viewer reacted to: liked, replied to, retweeted or
    long-dwelt on (positive), hid or reported (negative), and how long they
    looked at tweets with each word (every dwell, as log(1 + ms))."""

    def __init__(self):
        self.positive, self.negative, self.positive_words = Counter(), Counter(), 0
        self.log_dwell, self.dwells, self.all_log_dwell, self.all_dwells = Counter(), Counter(), 0.0, 0

    def react(self, words: tuple[str, ...], kind: str, dwell_ms: int | None, sign: int = 1) -> None:
        """Count one reaction in (sign 1) or, leaving the window, out (-1)."""
        unique = dict.fromkeys(words, sign)
        if kind in NEGATIVES:
            self.negative.update(unique)
        if kind == Kind.DWELL:
            log_dwell = math.log1p(dwell_ms or 0)
            self.log_dwell.update(dict.fromkeys(words, sign * log_dwell))
            self.dwells.update(unique)
            self.all_log_dwell += sign * log_dwell
            self.all_dwells += sign
        if kind in ACTIONS or (kind == Kind.DWELL and (dwell_ms or 0) >= settings.DWELL_LONG_MS):
            self.positive.update(unique)
            self.positive_words += sign * len(unique)

    def word_scores(self, word: str) -> tuple[float, float, float, float]:
        """(affinity, affinity share, aversion, dwell lift) of one word:
        log1p(its positive count), that count as a share of all positive
        words, log1p(its negative count), and how much longer than usual (in
        log dwell) the viewer looks at tweets with it (0 if never seen)."""
        count = self.positive[word]
        share = count / self.positive_words if self.positive_words else 0.0
        lift = 0.0
        if self.dwells[word] > 0:
            lift = self.log_dwell[word] / self.dwells[word] - self.all_log_dwell / self.all_dwells
        return math.log1p(count), share, math.log1p(self.negative[word]), lift

    def match(self, text: str) -> tuple[float, float, float, float]:
        """The mean `word_scores` of a tweet's words."""
        words = tokens(text)
        if not words:
            return 0.0, 0.0, 0.0, 0.0
        return tuple(sum(scores) / len(words) for scores in zip(*map(self.word_scores, words), strict=True))

    def match_many(self, texts: list[str]) -> np.ndarray:
        """`match` of many texts at once [n, 4]: each distinct word scored
        once, then summed per text with one numpy reduction (a feed's
        candidates share most of their words)."""
        vocabulary: dict[str, int] = {}
        word_rows, lengths = [], np.zeros(len(texts))
        for i, text in enumerate(texts):
            words = tokens(text)
            word_rows.extend(vocabulary.setdefault(word, len(vocabulary)) for word in words)
            lengths[i] = len(words)
        scores = np.array([self.word_scores(word) for word in vocabulary] or np.zeros((0, 4))).reshape(-1, 4)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        sums = np.zeros((len(texts), 4))
        has_words = lengths > 0
        if word_rows:
            sums[has_words] = np.add.reduceat(scores[word_rows], starts[has_words], axis=0)
        return sums / np.maximum(lengths, 1)[:, None]
