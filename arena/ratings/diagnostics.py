"""Judge diagnostics from the two verdicts each judged battle records.

Each judged battle was judged twice: model_a shown as Response A, then model_b shown as
Response A; `battles.verdicts` keeps both letters ("AB", "BA", "AA", "BB"). A judge without
position bias names the answer shown first half the time, and names the same model in both
orders; how far it is from that is what these numbers show. Invalid verdicts are counted over
all the judge key's judgments (a pair with an invalid one has no battle).
"""

from __future__ import annotations

import numpy as np

from arena.answers import STYLE_NAMES
from arena.ratings.data import BattleSet
from arena.ratings.report import NO_DIAGNOSTICS, JudgeDiagnostics
from arena.ratings.style import normalised_difference, style_win_correlation
from arena.store.schema import BATTLE_VERDICTS

_FIRST_SHOWN_CHOSEN = np.array([pair.count("A") for pair in BATTLE_VERDICTS])  # "A" = the answer shown first
_ORDERS_DISAGREE = np.array([pair[0] == pair[1] for pair in BATTLE_VERDICTS])  # the same letter names two models


def judge_diagnostics(bs: BattleSet, counts: tuple[int, int] | None) -> JudgeDiagnostics:
    """The judge's diagnostics from its battles and `(invalid, all)` judgments of its key
    (`arena.store.judgments.judgment_counts`); none for battles no judge of ours made."""
    if counts is None:
        return NO_DIAGNOSTICS
    known = bs.verdicts >= 0
    codes = bs.verdicts[known]
    invalid, total = counts
    return JudgeDiagnostics(
        first_position_share=float(_FIRST_SHOWN_CHOSEN[codes].sum() / (2 * len(codes))) if len(codes) else None,
        order_disagreement=float(_ORDERS_DISAGREE[codes].mean()) if len(codes) else None,
        length_win_correlation=_length_correlation(bs),
        invalid_verdicts=invalid,
        judgments=total,
    )


def _length_correlation(bs: BattleSet) -> float | None:
    k = STYLE_NAMES.index("tokens")
    known = ~(np.isnan(bs.style_a[:, k]) | np.isnan(bs.style_b[:, k]))
    if not known.any():
        return None
    diff = normalised_difference(bs.style_a[known, k], bs.style_b[known, k])
    return style_win_correlation(diff, bs.score_a[known])
