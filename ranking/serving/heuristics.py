"""Heuristics applied to the scored candidates before they are stored."""

import numpy as np


def author_diversity(scores: np.ndarray, author_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """No long runs of one author: in score order, an author's k-th tweet
    (k from 0) is discounted by 0.75 * 0.5**k + 0.25 (Twitter's published
    heuristic). A negative score is divided by the discount instead, so a
    discount always lowers. Returns (final order, discounted scores)."""
    by_score = np.argsort(-scores, kind="stable")
    # k of each tweet: its place among its author's tweets, in score order.
    by_author = by_score[np.argsort(author_ids[by_score], kind="stable")]
    sorted_authors = author_ids[by_author]
    first_of_author = np.r_[True, sorted_authors[1:] != sorted_authors[:-1]]
    place = np.arange(len(by_author))
    k = np.empty(len(scores), dtype=np.int64)
    k[by_author] = place - np.maximum.accumulate(np.where(first_of_author, place, 0))
    discount = 0.75 * 0.5**k + 0.25
    adjusted = np.where(scores > 0, scores * discount, scores / discount)
    return np.argsort(-adjusted, kind="stable"), adjusted


def network_first(order: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """`order` with the fill candidates (`fill` true) after all the others,
    each part keeping its order: the fill is there for when the viewer's
    network runs out, not to crowd out the people they follow."""
    return order[np.argsort(fill[order], kind="stable")]
