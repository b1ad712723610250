"""Judge diagnostics from the two orders of each judged battle.

Each judged battle has two judgments: `judgment_ab` shows model_a as Response A, `judgment_ba`
shows model_b as Response A. A judge without position bias picks "A" half the time, and names the
same model in both orders; how far it is from that is what these numbers show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from arena.ratings.data import WINNER_SCORE
from arena.ratings.length import length_win_correlation, normalised_length_difference
from arena.store import Store, judgments


def judge_diagnostics(store: Store | None, frame: pd.DataFrame, judge_key: str | None) -> dict:
    """first_position_share, order_disagreement, length_win_correlation, invalid_verdicts, judgments."""
    verdicts = _verdicts(store, frame, judge_key)
    ab = frame["judgment_ab_id"].map(verdicts) if len(verdicts) else pd.Series([None] * len(frame))
    ba = frame["judgment_ba_id"].map(verdicts) if len(verdicts) else pd.Series([None] * len(frame))
    valid = pd.concat([ab, ba]).dropna()
    both = ab.notna() & ba.notna()
    invalid, total = _judgment_counts(store, judge_key)
    return {
        "first_position_share": float((valid == "A").mean()) if len(valid) else None,
        # the same letter in both orders names two different models
        "order_disagreement": float((ab[both] == ba[both]).mean()) if both.any() else None,
        "length_win_correlation": _length_correlation(frame),
        "invalid_verdicts": invalid,
        "judgments": total,
    }


def _verdicts(store: Store | None, frame: pd.DataFrame, judge_key: str | None) -> dict[int, str]:
    """Valid verdicts ("A"/"B") by judgment id, for the judgments these battles point to."""
    if store is None or judge_key is None or "judgment_ab_id" not in frame:
        return {}
    if frame["judgment_ab_id"].isna().all() and frame["judgment_ba_id"].isna().all():
        return {}
    query = select(judgments.c.id, judgments.c.verdict).where(
        judgments.c.judge_key == judge_key, judgments.c.valid.is_(True)
    )
    with store.connect() as connection:
        return {row.id: row.verdict for row in connection.execute(query) if row.verdict in ("A", "B")}


def _judgment_counts(store: Store | None, judge_key: str | None) -> tuple[int, int]:
    if store is None or judge_key is None:
        return 0, 0
    invalid = func.coalesce(func.sum(case((judgments.c.valid.is_(False), 1), else_=0)), 0)
    query = select(func.count(), invalid).where(judgments.c.judge_key == judge_key)
    with store.connect() as connection:
        total, invalid = connection.execute(query).one()
    return int(invalid), int(total)


def _length_correlation(frame: pd.DataFrame) -> float | None:
    if "answer_a_len" not in frame:
        return None
    len_a = pd.to_numeric(frame["answer_a_len"], errors="coerce").to_numpy(np.float64)
    len_b = pd.to_numeric(frame["answer_b_len"], errors="coerce").to_numpy(np.float64)
    known = ~(np.isnan(len_a) | np.isnan(len_b))
    if not known.any():
        return None
    score = frame["winner"].map(WINNER_SCORE).to_numpy(np.float64)[known]
    return length_win_correlation(normalised_length_difference(len_a[known], len_b[known]), score)
