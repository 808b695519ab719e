"""Team-draft interleaving's properties, over many random pairs of rankings."""

import numpy as np
import pytest
from scipy import stats

from ranking.experiments.interleaving import TEAM_A, TEAM_B, team_draft


def ranking_pairs(n_pairs: int, *, seed: int):
    """Pairs of rankings of the top-k of random orders of one pool: they
    overlap partly, like two models' (or a model's and the timeline's) top-k."""
    rng = np.random.default_rng(seed)
    for _ in range(n_pairs):
        pool = int(rng.integers(1, 40))
        k_a, k_b = int(rng.integers(0, pool + 1)), int(rng.integers(0, pool + 1))
        yield rng.permutation(pool)[:k_a].tolist(), rng.permutation(pool)[:k_b].tolist()


def test_every_item_of_either_ranking_is_placed_once():
    for a, b in ranking_pairs(500, seed=1):
        merged = [item for item, _ in team_draft(a, b, rng=np.random.default_rng(0))]
        assert sorted(merged) == sorted(set(a) | set(b))


def test_team_sizes_differ_by_at_most_one_at_every_prefix():
    for a, b in ranking_pairs(500, seed=2):
        picks = {TEAM_A: 0, TEAM_B: 0}
        for _, team in team_draft(a, b, rng=np.random.default_rng(1)):
            if team is not None:
                picks[team] += 1
            assert abs(picks[TEAM_A] - picks[TEAM_B]) <= 1


def test_each_team_picks_in_its_own_rankings_order_its_best_unplaced_item():
    for a, b in ranking_pairs(500, seed=3):
        placed = set()
        for item, team in team_draft(a, b, rng=np.random.default_rng(2)):
            if team is not None:
                ranking = a if team == TEAM_A else b
                assert item == next(i for i in ranking if i not in placed)
            placed.add(item)


def test_the_draft_goes_on_while_both_teams_can_pick_and_credits_no_one_after():
    for a, b in ranking_pairs(500, seed=4):
        merged = team_draft(a, b, rng=np.random.default_rng(3))
        credited = [item for item, team in merged if team is not None]
        # Uncredited items only after the draft, and only once one ranking has all its items placed.
        assert [team is None for _, team in merged] == [False] * len(credited) + [True] * (len(merged) - len(credited))
        assert set(a) <= set(credited) or set(b) <= set(credited)


def test_two_rankings_of_the_same_items_are_all_drafted():
    rng = np.random.default_rng(5)
    for _ in range(200):
        items = rng.permutation(30).tolist()
        merged = team_draft(items, rng.permutation(items).tolist(), rng=rng)
        assert len(merged) == 30 and all(team is not None for _, team in merged)


def test_identical_rankings_alternate_teams_down_the_list():
    merged = team_draft([1, 2, 3, 4], [1, 2, 3, 4], rng=np.random.default_rng(0))
    assert [item for item, _ in merged] == [1, 2, 3, 4]
    teams = [team for _, team in merged]
    assert sorted(teams[:2]) == sorted(teams[2:]) == [TEAM_A, TEAM_B]


def test_the_same_seed_drafts_the_same_list_and_other_seeds_differ():
    a, b = list(range(20)), list(range(19, -1, -1))
    first = team_draft(a, b, rng=np.random.default_rng([7, 1700000000000]))
    assert team_draft(a, b, rng=np.random.default_rng([7, 1700000000000])) == first
    assert any(team_draft(a, b, rng=np.random.default_rng([7, ms])) != first for ms in range(1, 20))


def test_each_team_picks_first_about_half_the_time():
    n = 4000
    first_a = sum(team_draft([1, 2], [2, 1], rng=np.random.default_rng(seed))[0][1] == TEAM_A for seed in range(n))
    # Two-sided binomial test at 0.1 %: a fair coin passes 999 times in 1,000.
    assert stats.binomtest(first_a, n, 0.5).pvalue > 0.001


def test_an_empty_ranking_leaves_the_other_uncredited():
    assert team_draft([], [3, 1], rng=np.random.default_rng(0)) == [(3, None), (1, None)]
    assert team_draft([], [], rng=np.random.default_rng(0)) == []


@pytest.mark.parametrize("seed", range(5))
def test_a_strictly_better_item_is_never_pushed_below_both_rankings_places(seed):
    # Team draft's fairness: an item both rankers put first is placed first.
    a, b = [9, *np.random.default_rng(seed).permutation(8).tolist()], [9, *range(8)]
    assert team_draft(a, b, rng=np.random.default_rng(seed))[0][0] == 9
