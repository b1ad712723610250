"""Battles as arrays: read from the store, index the models, fingerprint what a fit saw.

A battle frame (pandas) has one row per battle in battle order (tstamp, then id) with the
columns of `FRAME_COLUMNS`; `BattleSet` turns it into model indices and scores for the fitters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from arena.errors import ArenaError
from arena.store import Store, battles, questions

WINNER_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
AUDIENCE_PREFIX = "audience:"
FRAME_COLUMNS = (
    "id", "question_id", "category", "audience", "model_a", "model_b", "winner", "judge",
    "judgment_ab_id", "judgment_ba_id", "answer_a_len", "answer_b_len", "tstamp",
)


@dataclass(frozen=True)
class BattleSet:
    """Battles in battle order, with models as indices into `models` (sorted names)."""

    models: list[str]
    a: np.ndarray  # int
    b: np.ndarray  # int
    score_a: np.ndarray  # 1 = model_a won, 0.5 = tie, 0 = model_b won
    len_a: np.ndarray  # float, NaN where unknown
    len_b: np.ndarray
    category: np.ndarray  # object: str or None
    audience: np.ndarray  # object: str or None

    @property
    def n_battles(self) -> int:
        return len(self.a)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> BattleSet:
        unknown = sorted(set(frame["winner"]) - set(WINNER_SCORE))
        if unknown:
            raise ArenaError(f"battles with unknown winner values: {', '.join(map(repr, unknown))}")
        models = sorted(set(frame["model_a"]) | set(frame["model_b"]))
        index = {name: k for k, name in enumerate(models)}
        return cls(
            models=models,
            a=frame["model_a"].map(index).to_numpy(np.int64),
            b=frame["model_b"].map(index).to_numpy(np.int64),
            score_a=frame["winner"].map(WINNER_SCORE).to_numpy(np.float64),
            len_a=pd.to_numeric(frame.get("answer_a_len"), errors="coerce").to_numpy(np.float64)
            if "answer_a_len" in frame else np.full(len(frame), np.nan),
            len_b=pd.to_numeric(frame.get("answer_b_len"), errors="coerce").to_numpy(np.float64)
            if "answer_b_len" in frame else np.full(len(frame), np.nan),
            category=_optional_column(frame, "category"),
            audience=_optional_column(frame, "audience"),
        )

    def subset(self, mask: np.ndarray) -> BattleSet:
        """The battles where `mask` holds, re-indexed over the models that appear in them."""
        present = np.zeros(self.n_models, dtype=bool)
        present[self.a[mask]] = True
        present[self.b[mask]] = True
        new_index = np.cumsum(present) - 1
        return BattleSet(
            models=[m for m, keep in zip(self.models, present) if keep],
            a=new_index[self.a[mask]],
            b=new_index[self.b[mask]],
            score_a=self.score_a[mask],
            len_a=self.len_a[mask],
            len_b=self.len_b[mask],
            category=self.category[mask],
            audience=self.audience[mask],
        )

    def battles_per_model(self) -> np.ndarray:
        return np.bincount(self.a, minlength=self.n_models) + np.bincount(self.b, minlength=self.n_models)

    def wins_per_model(self) -> np.ndarray:
        """Wins with ties as half."""
        return np.bincount(self.a, self.score_a, self.n_models) + np.bincount(self.b, 1.0 - self.score_a, self.n_models)


def _optional_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), None, dtype=object)
    column = frame[name].astype(object)
    return column.where(column.notna() & (column != ""), None).to_numpy(dtype=object)


def load_battles(
    store: Store, source: str, judge_key: str | None = None, category: str | None = None
) -> pd.DataFrame:
    """The battles of one source (and judge key) in battle order, with the question's audience.

    `category` keeps one question category, or one audience when written "audience:patient".
    """
    query = (
        select(
            battles.c.id, battles.c.question_id, battles.c.category, questions.c.audience,
            battles.c.model_a, battles.c.model_b, battles.c.winner, battles.c.judge,
            battles.c.judgment_ab_id, battles.c.judgment_ba_id,
            battles.c.answer_a_len, battles.c.answer_b_len, battles.c.tstamp,
        )
        .select_from(battles.outerjoin(questions, battles.c.question_id == questions.c.id))
        .where(battles.c.source == source)
        .order_by(battles.c.tstamp, battles.c.id)
    )
    if judge_key is not None:
        query = query.where(battles.c.judge_key == judge_key)
    if category is not None and category.startswith(AUDIENCE_PREFIX):
        query = query.where(questions.c.audience == category.removeprefix(AUDIENCE_PREFIX))
    elif category is not None:
        query = query.where(battles.c.category == category)
    with store.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


def battles_fingerprint(frame: pd.DataFrame) -> str:
    """A digest of everything in the battles that a rating depends on (order included)."""
    columns = ["id", "question_id", "category", "audience", "model_a", "model_b", "winner",
               "answer_a_len", "answer_b_len", "tstamp"]
    present = [c for c in columns if c in frame]
    digest = hashlib.sha256(f"{len(frame)}|{','.join(present)}".encode())
    if len(frame):
        hashed = pd.util.hash_pandas_object(frame[present], index=False)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()[:32]
