"""Team-draft interleaving (Radlinski, Kurup and Joachims, "How does
clickthrough data reflect retrieval quality?", CIKM 2008; the variant
Netflix describes in "Interleaving in online experiments at Netflix", 2017):
two rankings merged into one list as two captains pick a team, so that
which ranker a reader prefers shows in which team's items they engage with.
Pure: no database, no clock; the coin is the caller's generator."""

from collections.abc import Sequence

import numpy as np

# The two teams: the first ranking's picks, the second's.
TEAM_A, TEAM_B = 0, 1


def team_draft(a: Sequence[int], b: Sequence[int], *, rng: np.random.Generator) -> list[tuple[int, int | None]]:
    """Merge rankings `a` and `b` (item ids, best first) by team draft: the
    team with fewer picks picks next, a coin from `rng` deciding when they
    have as many; each picks its highest-ranked item not placed yet, and is
    credited with it. Returns (item, TEAM_A or TEAM_B) in the merged order.

    The draft ends when either team has nothing left to pick: past that,
    every pick would go to one team and credit it for merely having a longer
    list. The other ranking's remaining items follow, in its order,
    credited to no team (None): shown, but no evidence for either."""
    rankings = (a, b)
    placed: set[int] = set()
    picks = [0, 0]
    cursors = [0, 0]
    merged: list[tuple[int, int | None]] = []

    def next_unplaced(team: int) -> int | None:
        ranking = rankings[team]
        while cursors[team] < len(ranking) and ranking[cursors[team]] in placed:
            cursors[team] += 1
        return ranking[cursors[team]] if cursors[team] < len(ranking) else None

    while True:
        first, second = next_unplaced(TEAM_A), next_unplaced(TEAM_B)
        if first is None or second is None:
            break
        if picks[TEAM_A] == picks[TEAM_B]:
            team = TEAM_A if rng.random() < 0.5 else TEAM_B
        else:
            team = TEAM_A if picks[TEAM_A] < picks[TEAM_B] else TEAM_B
        item = first if team == TEAM_A else second
        placed.add(item)
        picks[team] += 1
        merged.append((item, team))
    for ranking in rankings:
        for item in ranking:
            if item not in placed:
                placed.add(item)
                merged.append((item, None))
    return merged
