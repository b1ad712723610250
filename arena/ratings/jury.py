"""A judge jury: its judges' battles lined up per (question, pair), combined, and their agreement.

Each judge's battle of a (question, pair) is already the both-orders outcome of that judge
(`arena.judge.pairs`): the first answer wins, a tie, or the second wins. Battles are matched
across judges by their two answer ids (an answer belongs to one model and one question), read
with the lower id first.

The jury board's verdict of a (question, pair), `JURY_RULE`: it counts when more than half of
the jury's judges judged it; its outcome is the one more than half of those judges gave, and a
tie when no outcome has such a majority (a split jury). Agreement (`agreement`) takes the three
outcomes as nominal labels: Cohen's kappa for each pair of judges on the battles both judged,
Krippendorff's alpha (the `krippendorff` package) for the jury on the battles at least two
judges judged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from arena.ratings.data import BattleSet, battle_set
from arena.ratings.report import Agreement, PairAgreement

JURY_RULE = ("per question and pair, each judge's both-orders outcome; a battle counts when more than half of the "
             "judges judged it, and its outcome is the one more than half of those judges gave (no majority: a tie)")
ALPHA_LEVEL: Literal["nominal"] = "nominal"  # the outcomes are labels, not an ordered scale
OUTCOMES = (0.0, 0.5, 1.0)  # the lower answer id's score: lost, tie, won


@dataclass(frozen=True, eq=False)
class JuryBattles:
    """Every judge's outcome of every (question, pair) any of them judged."""

    judges: tuple[str, ...]
    units: np.ndarray  # (U, 2) int: the pair's answer ids, lower first
    codes: np.ndarray  # (J, U) int: index into OUTCOMES of the lower id's score; -1 where not judged
    sources: np.ndarray  # (J, U) int: the row of the unit in that judge's BattleSet; -1 where not judged

    @property
    def judged(self) -> np.ndarray:
        return self.codes >= 0


def line_up(judges: Sequence[str], sets: Sequence[BattleSet]) -> JuryBattles:
    """Match the judges' battles by their answer pair (battles without answer ids are left out)."""
    keys, scores, rows, owners = [], [], [], []
    for j, bs in enumerate(sets):
        known = (bs.answer_a >= 0) & (bs.answer_b >= 0)
        a, b = bs.answer_a[known], bs.answer_b[known]
        flipped = a > b
        keys.append(np.stack([np.where(flipped, b, a), np.where(flipped, a, b)], axis=1))
        scores.append(np.where(flipped, 1.0 - bs.score_a[known], bs.score_a[known]))
        rows.append(np.flatnonzero(known))
        owners.append(np.full(len(a), j))
    all_keys = np.concatenate(keys) if keys else np.empty((0, 2), dtype=np.int64)
    units, inverse = np.unique(all_keys.reshape(-1, 2), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    codes = np.full((len(sets), len(units)), -1, dtype=np.int64)
    sources = np.full((len(sets), len(units)), -1, dtype=np.int64)
    owner = np.concatenate(owners) if owners else np.empty(0, dtype=np.int64)
    score = np.concatenate(scores) if scores else np.empty(0)
    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    codes[owner, inverse] = np.searchsorted(OUTCOMES, score)
    sources[owner, inverse] = row
    return JuryBattles(tuple(judges), units.astype(np.int64), codes, sources)


def jury_outcomes(lined: JuryBattles) -> tuple[np.ndarray, np.ndarray]:
    """(units on the jury board, their outcome codes) by `JURY_RULE`."""
    n_judges = len(lined.judges)
    counts = np.stack([(lined.codes == k).sum(axis=0) for k in range(len(OUTCOMES))])  # (3, U)
    voters = counts.sum(axis=0)
    counted = 2 * voters > n_judges
    best = counts.argmax(axis=0)
    majority = 2 * counts[best, np.arange(counts.shape[1])] > voters
    outcome = np.where(majority, best, OUTCOMES.index(0.5))
    return np.flatnonzero(counted), outcome[counted]


def jury_battle_set(lined: JuryBattles, sets: Sequence[BattleSet],
                    question_info: dict[str, tuple[str, bool]]) -> BattleSet:
    """The jury board's battles: each counted (question, pair) once, with the jury's outcome, its
    other columns (models, question, style, time) taken from the first judge that judged it."""
    units, outcome = jury_outcomes(lined)
    columns: dict[str, list] = {name: [] for name in (
        "model_a", "model_b", "winner", "question_id", "category", "answer_a", "answer_b", "battle_id", "tstamp")}
    style_a, style_b = [], []
    winners = {0.0: "model_b", 0.5: "tie", 1.0: "model_a"}
    for unit, code in zip(units, outcome, strict=True):
        j = int(np.argmax(lined.judged[:, unit]))
        bs, row = sets[j], int(lined.sources[j, unit])
        low_first = bs.answer_a[row] <= bs.answer_b[row]
        score = OUTCOMES[code] if low_first else 1.0 - OUTCOMES[code]
        columns["model_a"].append(bs.models[bs.a[row]])
        columns["model_b"].append(bs.models[bs.b[row]])
        columns["winner"].append(winners[score])
        columns["question_id"].append(bs.questions[bs.cluster[row]] if bs.cluster[row] >= 0 else None)
        columns["category"].append(bs.categories[bs.category[row]] if bs.category[row] >= 0 else None)
        columns["answer_a"].append(int(bs.answer_a[row]))
        columns["answer_b"].append(int(bs.answer_b[row]))
        columns["battle_id"].append(int(bs.battle_id[row]))
        columns["tstamp"].append(bs.tstamp_us[row] / 1e6)
        style_a.append(bs.style_a[row])
        style_b.append(bs.style_b[row])
    order = np.lexsort((np.asarray(columns["battle_id"]), np.asarray(columns["tstamp"])))
    pick = {name: [values[k] for k in order] for name, values in columns.items()}
    n_style = sets[0].style_a.shape[1] if sets else 4
    return battle_set(
        pick["model_a"], pick["model_b"], pick["winner"], question_id=pick["question_id"],
        category=pick["category"],
        style_a=np.asarray(style_a, dtype=np.float64).reshape(-1, n_style)[order],
        style_b=np.asarray(style_b, dtype=np.float64).reshape(-1, n_style)[order],
        answer_a=pick["answer_a"], answer_b=pick["answer_b"], battle_id=pick["battle_id"], tstamp=pick["tstamp"],
        question_info=question_info,
    )


def cohen_kappa(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """(observed agreement, Cohen's kappa) of two label arrays; kappa None when chance agreement is 1."""
    if len(x) == 0:
        return None, None
    observed = float(np.mean(x == y))
    labels = np.union1d(x, y)
    expected = float(sum(np.mean(x == k) * np.mean(y == k) for k in labels))
    if math.isclose(expected, 1.0):
        return observed, None
    return observed, (observed - expected) / (1.0 - expected)


def krippendorff_alpha(codes: np.ndarray) -> tuple[float | None, int]:
    """(Krippendorff's alpha, nominal, of the units at least two judges judged, that count)."""
    import krippendorff

    pairable = (codes >= 0).sum(axis=0) >= 2
    n = int(pairable.sum())
    data = np.where(codes[:, pairable] >= 0, codes[:, pairable], np.nan).astype(np.float64)
    if n == 0 or len(np.unique(data[~np.isnan(data)])) < 2:
        return None, n  # no pairable battle, or one outcome everywhere: alpha is undefined
    value = float(krippendorff.alpha(reliability_data=data, value_domain=list(range(len(OUTCOMES))),
                                     level_of_measurement=ALPHA_LEVEL))
    return (value if math.isfinite(value) else None), n


def agreement(lined: JuryBattles) -> Agreement:
    """Kappa per pair of judges, alpha for the jury, and how many battles the jury board has."""
    pairs = []
    for i, j in itertools.combinations(range(len(lined.judges)), 2):
        both = lined.judged[i] & lined.judged[j]
        observed, kappa = cohen_kappa(lined.codes[i, both], lined.codes[j, both])
        pairs.append(PairAgreement(lined.judges[i], lined.judges[j], int(both.sum()), observed, kappa))
    alpha, n_alpha = krippendorff_alpha(lined.codes)
    return Agreement(pairs=tuple(pairs), alpha=alpha, n_alpha=n_alpha, level=ALPHA_LEVEL,
                     jury_battles=len(jury_outcomes(lined)[0]), rule=JURY_RULE)
