"""The jury's combination rule and agreement statistics on hand-made battles."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from arena.ratings.data import battle_set
from arena.ratings.jury import agreement, cohen_kappa, jury_battle_set, line_up


def judge_battles(outcomes: dict[tuple[int, int], str]) -> object:
    """One judge's battles: {(answer id of x, answer id of y): winner}, x = model "m<id>"."""
    pairs = sorted(outcomes)
    return battle_set([f"m{a}" for a, _ in pairs], [f"m{b}" for _, b in pairs], [outcomes[p] for p in pairs],
                      question_id=["q"] * len(pairs), answer_a=[a for a, _ in pairs], answer_b=[b for _, b in pairs])


def test_majority_of_those_who_judged_and_more_than_half_of_the_jury() -> None:
    one = judge_battles({(1, 2): "model_a", (1, 3): "model_a", (2, 3): "tie", (3, 4): "model_b"})
    two = judge_battles({(1, 2): "model_b", (1, 3): "model_a", (2, 3): "model_a"})
    # the third judge stored (1, 2) with the answers the other way round: read lower id first
    three = battle_set(["m2", "m1"], ["m1", "m3"], ["model_b", "model_b"], question_id=["q", "q"],
                       answer_a=[2, 1], answer_b=[1, 3])
    lined = line_up(["one", "two", "three"], [one, two, three])
    jury = jury_battle_set(lined, [one, two, three], {})
    winners = {(int(a), int(b)): s for a, b, s in zip(jury.answer_a, jury.answer_b, jury.score_a, strict=True)}
    # (1,2): A, B, A -> m1 wins; (1,3): A, A, B -> m1; (2,3): tie, A (two judges, split) -> tie;
    # (3,4): one judge of three -> not on the jury board
    assert winners == {(1, 2): 1.0, (1, 3): 1.0, (2, 3): 0.5}


def test_kappa_by_hand_and_its_undefined_case() -> None:
    observed, kappa = cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    # po = 3/4; pe = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert (observed, kappa) == (pytest.approx(0.75), pytest.approx(0.5))
    assert cohen_kappa(np.array([2, 2]), np.array([2, 2])) == (1.0, None)
    assert cohen_kappa(np.array([], dtype=int), np.array([], dtype=int)) == (None, None)


def test_alpha_matches_the_package_with_missing_verdicts_and_is_undefined_on_one_outcome() -> None:
    one = judge_battles({(1, 2): "model_a", (1, 3): "model_b", (2, 3): "tie", (3, 4): "model_a"})
    two = judge_battles({(1, 2): "model_a", (1, 3): "model_a", (2, 3): "tie"})
    three = judge_battles({(1, 2): "model_b", (2, 3): "tie", (3, 4): "model_a"})
    result = agreement(line_up(["one", "two", "three"], [one, two, three]))
    nan = np.nan
    data = np.array([[2, 0, 1, 2], [2, 2, 1, nan], [0, nan, 1, 2]])  # lower id's outcome: 2 won, 1 tie, 0 lost
    assert result.alpha == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    assert result.n_alpha == 4 and result.jury_battles == 4
    assert [(p.judge_a, p.judge_b, p.n) for p in result.pairs] == [("one", "two", 3), ("one", "three", 3),
                                                                   ("two", "three", 2)]
    same = agreement(line_up(["one", "two"], [two, two]))
    assert same.alpha == pytest.approx(1.0) and same.pairs[0].kappa == pytest.approx(1.0)
    wins = judge_battles({(1, 2): "model_a", (1, 3): "model_a"})
    constant = agreement(line_up(["one", "two"], [wins, wins]))
    assert (constant.alpha, constant.n_alpha, constant.pairs[0].kappa, constant.pairs[0].observed) == (None, 2, None, 1.0)
