"""Head to head: is the difference between two models real?

Three answers from one board: P(A rated above B), the share of bootstrap rounds that rate A
above B (the same resampling as the intervals); the head-to-head record, their direct battles
(each on a question both answered) with the number of distinct questions; and an exact
two-sided sign test on the decisive ones (ties dropped): under "no difference" each decisive
battle goes either way with probability 1/2. The record and the test see only direct battles;
the bootstrap probability also uses what both did against everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.errors import ArenaError
from arena.ratings.report import Board


def sign_test(wins: int, losses: int) -> float | None:
    """Two-sided exact binomial (sign) test of wins vs losses against 1/2; None without decisive battles."""
    n = wins + losses
    if n == 0:
        return None
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(wins, losses), n, 0.5)))


@dataclass(frozen=True)
class HeadToHead:
    model_a: str
    model_b: str
    view: str | None
    rating_a: float
    rating_b: float
    prob_a_above: float | None  # None without bootstrap rounds
    wins_a: int
    ties: int
    wins_b: int
    questions: int | None  # distinct questions of their direct battles; None without question ids
    sign_test_p: float | None
    bootstrap: str
    rounds: int

    def to_json(self) -> dict[str, Any]:
        return {"model_a": self.model_a, "model_b": self.model_b, "view": self.view, "rating_a": self.rating_a,
                "rating_b": self.rating_b, "prob_a_above": self.prob_a_above, "wins_a": self.wins_a,
                "ties": self.ties, "wins_b": self.wins_b, "questions": self.questions,
                "sign_test_p": self.sign_test_p, "bootstrap": self.bootstrap, "rounds": self.rounds}

    def lines(self) -> list[str]:
        a, b = self.model_a, self.model_b
        where = f" ({self.view})" if self.view else ""
        out = [f"Head to head{where}: {a} {self.rating_a:.0f} vs {b} {self.rating_b:.0f} "
               f"({self.rating_a - self.rating_b:+.0f} Elo)"]
        if self.prob_a_above is None:
            out.append("  P(rated above): no bootstrap rounds (--bootstrap 0)")
        else:
            out.append(f"  P({a} rated above {b}) = {self.prob_a_above:.3f} over {self.rounds} {self.bootstrap}-level "
                       "bootstrap rounds")
        decisive = self.wins_a + self.wins_b
        on = f" on {self.questions} question(s)" if self.questions is not None else ""
        out.append(f"  direct battles{on}: {a} won {self.wins_a}, {b} won {self.wins_b}, {self.ties} tie(s)")
        if self.sign_test_p is None:
            out.append("  sign test: no decisive direct battles")
        else:
            out.append(f"  exact sign test on the {decisive} decisive battles: two-sided p = {self.sign_test_p:.4g}")
        return out


def head_to_head(board: Board, model_a: str, model_b: str, bootstrap: str, rounds: int) -> HeadToHead:
    """The comparison of two models on one board."""
    if model_a == model_b:
        raise ArenaError(f"--compare: pick two different models (got {model_a} twice)")
    if not board.ok or board.pairwise is None:
        raise ArenaError(f"--compare: no ratings for {board.view or 'all battles'} ({board.status})")
    pairwise = board.pairwise
    i, j = pairwise.index(model_a), pairwise.index(model_b)
    row_a, row_b = board.row(model_a), board.row(model_b)
    assert row_a is not None and row_b is not None
    wins_a, wins_b, ties = int(pairwise.wins[i, j]), int(pairwise.wins[j, i]), int(pairwise.ties[i, j])
    above = None if pairwise.prob_above is None else float(pairwise.prob_above[i, j])
    return HeadToHead(
        model_a=model_a, model_b=model_b, view=board.view, rating_a=row_a.rating, rating_b=row_b.rating,
        prob_a_above=above, wins_a=wins_a, ties=ties, wins_b=wins_b,
        questions=None if pairwise.questions is None else int(pairwise.questions[i, j]),
        sign_test_p=sign_test(wins_a, wins_b), bootstrap=bootstrap, rounds=rounds,
    )
