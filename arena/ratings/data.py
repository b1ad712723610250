"""Battles as arrays: a rating's battles loaded into numpy, its views, and digests of them.

Which battles a rating counts is `arena.store.battles.BattleSelection` (its SQL conditions, for
every reader); `view_mask` is the same view on loaded battles, written beside the arrays.
`load_battles` reads the selected battles into a `BattleSet` of numpy arrays in battle order
(tstamp, then id), through the store's fast column reads (`arena.store.battles.read_columns`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from arena.answers import STYLE_NAMES
from arena.errors import ArenaError
from arena.store.battles import (
    AUDIENCE_PREFIX,
    SAFETY_VIEW,
    SEPARATOR,
    BattleSelection,
    CodedTexts,
    question_info,
    read_columns,
)
from arena.store.engine import Store
from arena.store.schema import BATTLE_VERDICTS, BATTLE_WINNERS, WINNER_SCORE

_SCORE_OF_CODE = np.array([WINNER_SCORE[winner] for winner in BATTLE_WINNERS])  # model_a's score by winner code


# --- views ----------------------------------------------------------------------------------------


def view_mask(bs: BattleSet, view: str | None) -> np.ndarray:
    """`BattleSelection(view=...)`'s condition on loaded battles."""
    if view is None:
        return np.ones(bs.n_battles, dtype=bool)
    if view == SAFETY_VIEW:
        return bs.per_battle(bs.question_safety, False)
    if view.startswith(AUDIENCE_PREFIX):
        code = _index_of(bs.audiences, view.removeprefix(AUDIENCE_PREFIX))
        return (bs.per_battle(bs.question_audience, -1) == code) & (code >= 0)
    code = _index_of(bs.categories, view)
    return (bs.category == code) & (code >= 0)


def view_names(bs: BattleSet) -> list[str]:
    """The views these battles have: categories, then audiences, then the safety-critical questions."""
    present = np.zeros(len(bs.categories), dtype=bool)
    present[bs.category[bs.category >= 0]] = True
    names = sorted(name for name, here in zip(bs.categories, present, strict=False) if here)
    audiences = sorted({bs.audiences[k] for k in np.unique(bs.per_battle(bs.question_audience, -1)) if k >= 0})
    names += [AUDIENCE_PREFIX + name for name in audiences]
    if bs.per_battle(bs.question_safety, False).any():
        names.append(SAFETY_VIEW)
    return names


def _index_of(names: Sequence[str], name: str) -> int:
    try:
        return list(names).index(name)
    except ValueError:
        return -1


# --- the battles, as arrays ----------------------------------------------------------------------


@dataclass(frozen=True)
class BattleSet:
    """Battles in battle order (tstamp, then id), models as indices into `models` (sorted names)."""

    models: list[str]
    a: np.ndarray  # int
    b: np.ndarray  # int
    score_a: np.ndarray  # 1 = model_a won, 0.5 = tie, 0 = model_b won
    cluster: np.ndarray  # index into `questions`, -1 when the battle has no question id
    questions: list[str]  # question ids
    question_audience: np.ndarray  # per question: index into `audiences`, -1 unknown
    question_safety: np.ndarray  # per question: flagged safety-critical in the store
    audiences: list[str]
    category: np.ndarray  # index into `categories`, -1 none
    categories: list[str]
    style_a: np.ndarray  # (N, 4) float, STYLE_NAMES of model_a's answer, NaN where unknown
    style_b: np.ndarray
    answer_a: np.ndarray  # int answer ids, -1 unknown
    answer_b: np.ndarray
    verdicts: np.ndarray  # index into BATTLE_VERDICTS, -1 unknown
    battle_id: np.ndarray  # int
    tstamp_us: np.ndarray  # int, microseconds

    @property
    def n_battles(self) -> int:
        return len(self.a)

    @property
    def n_models(self) -> int:
        return len(self.models)

    def subset(self, mask: np.ndarray, details: bool = True) -> BattleSet:
        """The battles where `mask` holds, re-indexed over the models that appear in them.

        With details=False only what a board is fitted on is kept (models, scores, questions,
        categories); the style, answer, verdict, id and time arrays are left empty.
        """
        present = np.zeros(self.n_models, dtype=bool)
        present[self.a[mask]] = True
        present[self.b[mask]] = True
        new_index = np.cumsum(present) - 1

        def kept(array: np.ndarray) -> np.ndarray:
            return array[mask] if details else array[:0]

        return replace(
            self,
            models=[m for m, keep in zip(self.models, present, strict=False) if keep],
            a=new_index[self.a[mask]], b=new_index[self.b[mask]], score_a=self.score_a[mask],
            cluster=self.cluster[mask], category=self.category[mask], style_a=kept(self.style_a),
            style_b=kept(self.style_b), answer_a=kept(self.answer_a), answer_b=kept(self.answer_b),
            verdicts=kept(self.verdicts), battle_id=kept(self.battle_id), tstamp_us=kept(self.tstamp_us),
        )

    def battles_per_model(self) -> np.ndarray:
        return np.bincount(self.a, minlength=self.n_models) + np.bincount(self.b, minlength=self.n_models)

    def wins_per_model(self) -> np.ndarray:
        """Wins with ties as half."""
        return (np.bincount(self.a, self.score_a, self.n_models)
                + np.bincount(self.b, 1.0 - self.score_a, self.n_models))

    def n_questions(self) -> int:
        known = self.cluster[self.cluster >= 0]
        return int(np.count_nonzero(np.bincount(known, minlength=len(self.questions)))) if len(known) else 0

    def per_battle(self, per_question: np.ndarray, missing: Any) -> np.ndarray:
        """A per-question array looked up for each battle; `missing` where a battle has no question."""
        if len(per_question) == 0:
            return np.full(self.n_battles, missing, dtype=per_question.dtype)
        return np.where(self.cluster >= 0, per_question[np.maximum(self.cluster, 0)], missing)


def battle_set(
    model_a: Sequence[str], model_b: Sequence[str], winner: Sequence[str], *,
    question_id: Sequence[str | None] | None = None, category: Sequence[str | None] | None = None,
    style_a: np.ndarray | None = None, style_b: np.ndarray | None = None,
    answer_a: Sequence[int | None] | None = None, answer_b: Sequence[int | None] | None = None,
    verdicts: Sequence[str | None] | None = None, battle_id: Sequence[int] | None = None,
    tstamp: Sequence[float] | None = None, question_info: dict[str, tuple[str, bool]] | None = None,
) -> BattleSet:
    """A BattleSet from columns (in battle order as given); question_info: id -> (audience, safety)."""
    n = len(model_a)
    winner_code = _codes_of(winner, BATTLE_WINNERS, "winner")
    models = sorted(set(model_a) | set(model_b))
    index = {name: k for k, name in enumerate(models)}
    question_names, cluster = _factorize(question_id if question_id is not None else [None] * n)
    category_names, category_codes = _factorize(category if category is not None else [None] * n)
    info = question_info or {}
    audiences = sorted({info[q][0] for q in question_names if q in info and info[q][0]})
    audience_index = {name: k for k, name in enumerate(audiences)}
    return BattleSet(
        models=models,
        a=np.fromiter((index[m] for m in model_a), dtype=np.int64, count=n),
        b=np.fromiter((index[m] for m in model_b), dtype=np.int64, count=n),
        score_a=_SCORE_OF_CODE[winner_code],
        cluster=cluster, questions=question_names,
        question_audience=np.array([audience_index.get(info.get(q, ("", False))[0], -1) for q in question_names],
                                   dtype=np.int64),
        question_safety=np.array([bool(info.get(q, ("", False))[1]) for q in question_names], dtype=bool),
        audiences=audiences, category=category_codes, categories=category_names,
        style_a=_style_array(style_a, n), style_b=_style_array(style_b, n),
        answer_a=_ids(answer_a, n), answer_b=_ids(answer_b, n),
        verdicts=_codes_of(verdicts, BATTLE_VERDICTS, None) if verdicts is not None else np.full(n, -1),
        battle_id=np.asarray(battle_id if battle_id is not None else np.arange(1, n + 1), dtype=np.int64),
        tstamp_us=np.trunc(np.asarray(tstamp if tstamp is not None else np.arange(n), dtype=np.float64)
                           * 1e6).astype(np.int64),
    )


def _codes_of(values: Iterable[str | None], vocabulary: Sequence[str], what: str | None) -> np.ndarray:
    lookup = {name: k for k, name in enumerate(vocabulary)}
    codes = np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64)  # type: ignore[arg-type]
    if what is not None and (codes < 0).any():
        values = list(values)
        unknown = sorted({repr(v) for v, c in zip(values, codes, strict=False) if c < 0})
        raise ArenaError(f"battles with unknown {what} values: {', '.join(unknown)}")
    return codes


def _factorize(values: Sequence[str | None]) -> tuple[list[str], np.ndarray]:
    """Names (sorted) and each value's index; None and "" are -1."""
    names = sorted(name for name in dict.fromkeys(values) if name)
    position: dict[str | None, int] = {name: k for k, name in enumerate(names)}
    position[None] = position[""] = -1
    return names, np.fromiter(map(position.__getitem__, values), dtype=np.int64, count=len(values))


def _style_array(style: np.ndarray | None, n: int) -> np.ndarray:
    if style is None:
        return np.full((n, len(STYLE_NAMES)), np.nan)
    out = np.asarray(style, dtype=np.float64).reshape(n, len(STYLE_NAMES))
    return np.where(out < 0, np.nan, out)


def _ids(values: Sequence[int | None] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    return np.fromiter((-1 if v is None else int(v) for v in values), dtype=np.int64, count=n)


# --- reading them from the store ------------------------------------------------------------------


def load_battles(store: Store, selection: BattleSelection) -> BattleSet:
    """The selected battles in battle order, with their questions' audience and safety flag."""
    info = question_info(store)
    return _from_columns(read_columns(store, selection), info)


def _from_columns(columns: dict[str, Any], info: dict[str, tuple[str, bool]]) -> BattleSet:
    order: slice | np.ndarray = slice(None)  # stored in battle order, as they usually are
    if not _in_battle_order(columns["tstamp_us"], columns["id"]):
        order = np.lexsort((columns["id"], columns["tstamp_us"]))
    outcome = columns["outcome"][order]
    winner, verdicts = np.floor_divide(outcome, 8), outcome % 8 - 1  # verdicts -1: unknown
    if (winner < 0).any():
        raise ArenaError("battles with unknown winner values in the store")
    n = len(winner)
    model_names, model_codes = _text_codes(columns["model_a"], columns["model_b"])
    question_names, cluster = _text_codes(columns["question_id"])
    category_names, category_codes = _text_codes(columns["category"])
    audiences = sorted({info[q][0] for q in question_names if q in info and info[q][0]})
    audience_index = {name: k for k, name in enumerate(audiences)}
    style = {}
    for side in ("a", "b"):
        values = np.stack([columns[f"{side}_{name}"][order] for name in STYLE_NAMES], axis=1).astype(np.float64)
        values[values < 0] = np.nan
        style[side] = values
    return BattleSet(
        models=model_names,
        a=model_codes[:n][order], b=model_codes[n:][order],
        score_a=_SCORE_OF_CODE[winner],
        cluster=cluster[order], questions=question_names,
        question_audience=np.array([audience_index.get(info.get(q, ("", False))[0], -1) for q in question_names],
                                   dtype=np.int64),
        question_safety=np.array([info.get(q, ("", False))[1] for q in question_names], dtype=bool),
        audiences=audiences, category=category_codes[order], categories=category_names,
        style_a=style["a"], style_b=style["b"],
        answer_a=columns["answer_a"][order], answer_b=columns["answer_b"][order],
        verdicts=verdicts, battle_id=columns["id"][order], tstamp_us=columns["tstamp_us"][order],
    )


def _text_codes(*parts: list[str] | CodedTexts) -> tuple[list[str], np.ndarray]:
    """`_factorize` of these text columns end to end, all read as strings or all as codes."""
    if not isinstance(parts[0], CodedTexts):
        return _factorize([text for part in parts for text in part])  # type: ignore[union-attr]
    names = parts[0].names
    codes = np.concatenate([part.codes for part in parts])  # type: ignore[union-attr]
    used = np.zeros(len(names) + 1, dtype=bool)
    used[codes] = True  # -1 marks the last slot, which is no name
    present = sorted(names[k] for k in np.flatnonzero(used[:-1]) if names[k])
    new_code = {name: k for k, name in enumerate(present)}
    position = np.array([new_code.get(name, -1) for name in names] + [-1], dtype=np.int64)
    return present, position[codes]


def _in_battle_order(tstamp_us: np.ndarray, battle_id: np.ndarray) -> bool:
    """Whether the rows already are in battle order (tstamp, then id): a linear check, not a sort."""
    later, same = tstamp_us[1:] > tstamp_us[:-1], tstamp_us[1:] == tstamp_us[:-1]
    return bool((later | (same & (battle_id[1:] > battle_id[:-1]))).all())


def battles_fingerprint(bs: BattleSet) -> str:
    """A digest of everything in the battles that a rating depends on (order included)."""
    digest = hashlib.sha256()
    for names in (bs.models, bs.questions, bs.categories, bs.audiences):
        digest.update(SEPARATOR.join(names).encode() + b"\x1e")
    for array in (bs.a, bs.b, bs.score_a, bs.cluster, bs.category, bs.question_audience, bs.question_safety,
                  bs.style_a, bs.style_b, bs.answer_a, bs.answer_b, bs.verdicts, bs.battle_id, bs.tstamp_us):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]
