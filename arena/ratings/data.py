"""Battles as arrays: which battles a rating counts (one selection for ratings and dashboard), loading them.

`BattleSelection` is the one definition of a snapshot's battles: a source, a judge key, the set
of answers rated (both answers of a battle must be in it), the newest battle id the rating saw,
and a view (a question category, an audience "audience:patient", or "safety-critical"). Its
`conditions()` are the SQL the dashboard filters with; `view_mask` is the same view on loaded
battles, written beside it so the two cannot drift apart.

`load_battles` reads battles into a `BattleSet` of numpy arrays in battle order (tstamp, then
id). On SQLite it reads each column as one `group_concat` string and parses it with numpy: a
million battles in about a second, where row by row through Python takes several. Other
databases are read in row chunks. The result is the same (tests/ratings/test_data.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import Integer, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from arena.answers import STYLE_NAMES
from arena.errors import ArenaError
from arena.battles_io import JUDGE_SOURCE
from arena.store.engine import Store
from arena.store.schema import (
    BATTLE_VERDICTS,
    BATTLE_WINNERS,
    answers,
    battles,
    questions,
    rated_answers,
)

WINNERS = BATTLE_WINNERS
WINNER_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
VERDICT_PAIRS = BATTLE_VERDICTS  # model_a shown first, then model_b shown first
AUDIENCE_PREFIX = "audience:"
SAFETY_VIEW = "safety-critical"
STYLE_FIELDS = STYLE_NAMES  # arena.answers, in battle columns answer_a_<name>, answer_b_<name>
_SEPARATOR = "\x1f"  # between values of one group_concat column (the ASCII unit separator)


# --- which battles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BattleSelection:
    """The battles of one rating: what `arena rate` counted and the dashboard shows with it."""

    source: str
    judge_key: str | None = None
    answer_set: str | None = None  # digest of the rated answers (rated_answers); None = any answers
    max_battle_id: int | None = None  # battles stored later are not part of it
    view: str | None = None  # None = all; a category, "audience:<name>" or SAFETY_VIEW

    def for_view(self, view: str | None) -> BattleSelection:
        return replace(self, view=view)

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [battles.c.source == self.source]
        if self.judge_key is not None:
            conditions.append(battles.c.judge_key == self.judge_key)
        if self.answer_set is not None:
            rated = select(rated_answers.c.answer_id).where(rated_answers.c.answer_set == self.answer_set)
            conditions += [battles.c.answer_a_id.in_(rated), battles.c.answer_b_id.in_(rated)]
        if self.max_battle_id is not None:
            conditions.append(battles.c.id <= self.max_battle_id)
        view = _view_condition(self.view)
        if view is not None:
            conditions.append(view)
        return conditions

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "judge_key": self.judge_key, "answer_set": self.answer_set,
                "max_battle_id": self.max_battle_id, "view": self.view}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BattleSelection:
        return cls(data["source"], data.get("judge_key"), data.get("answer_set"), data.get("max_battle_id"),
                   data.get("view"))


def _view_condition(view: str | None) -> ColumnElement[bool] | None:
    if view is None:
        return None
    if view == SAFETY_VIEW:
        return battles.c.question_id.in_(select(questions.c.id).where(questions.c.safety_critical.is_(True)))
    if view.startswith(AUDIENCE_PREFIX):
        audience = view.removeprefix(AUDIENCE_PREFIX)
        return battles.c.question_id.in_(select(questions.c.id).where(questions.c.audience == audience))
    return battles.c.category == view


def view_mask(bs: BattleSet, view: str | None) -> np.ndarray:
    """`_view_condition` on loaded battles."""
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
    names = sorted(name for name, here in zip(bs.categories, present) if here)
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
    style_a: np.ndarray  # (N, 4) float, STYLE_FIELDS of model_a's answer, NaN where unknown
    style_b: np.ndarray
    answer_a: np.ndarray  # int answer ids, -1 unknown
    answer_b: np.ndarray
    verdicts: np.ndarray  # index into VERDICT_PAIRS, -1 unknown
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
            models=[m for m, keep in zip(self.models, present) if keep],
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
    winner_code = _codes_of(winner, WINNERS, "winner")
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
        score_a=np.array([1.0, 0.0, 0.5, 0.5])[winner_code],
        cluster=cluster, questions=question_names,
        question_audience=np.array([audience_index.get(info.get(q, ("", False))[0], -1) for q in question_names],
                                   dtype=np.int64),
        question_safety=np.array([bool(info.get(q, ("", False))[1]) for q in question_names], dtype=bool),
        audiences=audiences, category=category_codes, categories=category_names,
        style_a=_style_array(style_a, n), style_b=_style_array(style_b, n),
        answer_a=_ids(answer_a, n), answer_b=_ids(answer_b, n),
        verdicts=_codes_of(verdicts, VERDICT_PAIRS, None) if verdicts is not None else np.full(n, -1),
        battle_id=np.asarray(battle_id if battle_id is not None else np.arange(1, n + 1), dtype=np.int64),
        tstamp_us=np.trunc(np.asarray(tstamp if tstamp is not None else np.arange(n), dtype=np.float64)
                           * 1e6).astype(np.int64),
    )


def _codes_of(values: Iterable[str | None], vocabulary: Sequence[str], what: str | None) -> np.ndarray:
    lookup = {name: k for k, name in enumerate(vocabulary)}
    codes = np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64)  # type: ignore[arg-type]
    if what is not None and (codes < 0).any():
        values = list(values)
        unknown = sorted({repr(v) for v, c in zip(values, codes) if c < 0})
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
        return np.full((n, len(STYLE_FIELDS)), np.nan)
    out = np.asarray(style, dtype=np.float64).reshape(n, len(STYLE_FIELDS))
    return np.where(out < 0, np.nan, out)


def _ids(values: Sequence[int | None] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    return np.fromiter((-1 if v is None else int(v) for v in values), dtype=np.int64, count=n)


# --- reading them from the store ------------------------------------------------------------------


def load_battles(store: Store, selection: BattleSelection) -> BattleSet:
    """The selected battles in battle order, with their questions' audience and safety flag.

    A judged battle's style covariates are its answers' (answers table); an imported battle's
    are on its row.
    """
    judged = selection.source == JUDGE_SOURCE
    numbers = _NUMBER_COLUMNS if judged else {**_NUMBER_COLUMNS, **_STYLE_COLUMNS}
    with store.connect() as connection:
        info = {row.id: (row.audience or "", bool(row.safety_critical))
                for row in connection.execute(select(questions.c.id, questions.c.audience,
                                                     questions.c.safety_critical))}
        sqlite = connection.dialect.name == "sqlite"
    columns = _read_concatenated(store, selection, numbers) if sqlite else None
    if columns is None:
        with store.connect() as connection:
            columns = _read_rows(connection, selection, numbers)
    if judged:
        with store.connect() as connection:
            _style_from_answers(connection, columns)
    return _from_columns(columns, info)


def _style_from_answers(connection: Any, columns: dict[str, Any]) -> None:
    """Fill each battle's style columns from its two answers (-1 where unknown)."""
    ids = np.concatenate([columns["answer_a"], columns["answer_b"]])
    ids = ids[ids >= 0]
    n = len(columns["answer_a"])
    table = np.zeros((0, 5), dtype=np.int64)
    if len(ids):
        values = [answers.c.id, *(func.coalesce(answers.c[c], _MISSING) for c in
                                  ("completion_tokens", "headers", "list_items", "bold"))]
        where = answers.c.id.between(int(ids.min()), int(ids.max()))
        if connection.dialect.name == "sqlite":  # as the battles are read: one string a column
            texts = connection.execute(select(*(func.group_concat(v, _COMMA) for v in values)).where(where)).one()
            table = np.stack([np.fromstring(t or "", dtype=np.int64, sep=",") for t in texts], axis=1)
        else:
            table = np.array(connection.execute(select(*values).where(where)).all(), dtype=np.int64).reshape(-1, 5)
        table = table[np.argsort(table[:, 0], kind="stable")]
    for side in ("a", "b"):
        answer = columns[f"answer_{side}"]
        if len(table) == 0:
            columns.update({f"{side}_{name}": np.full(n, -1) for name in STYLE_FIELDS})
            continue
        position = np.clip(np.searchsorted(table[:, 0], answer), 0, len(table) - 1)
        known = (table[position, 0] == answer) & (answer >= 0)
        for k, name in enumerate(STYLE_FIELDS):
            columns[f"{side}_{name}"] = np.where(known, table[position, k + 1], -1)


# Constants are written into the SQL, not bound: a bound parameter is read again for every row,
# which costs a quarter of the time of reading a million battles. They are our own, never input.
_MISSING = literal_column("-1")


def _code_of(column: Any, vocabulary: Sequence[str]) -> Any:
    return case(*((column == literal_column(f"'{value}'"), literal_column(str(k)))
                  for k, value in enumerate(vocabulary)), else_=_MISSING)


_NUMBER_COLUMNS = {
    "id": battles.c.id,
    "tstamp_us": cast(battles.c.tstamp * literal_column("1000000"), Integer),
    # winner and verdicts in one number: 8 * winner code + verdicts code + 1 (one column less to read)
    "outcome": _code_of(battles.c.winner, WINNERS) * literal_column("8") + _code_of(battles.c.verdicts, VERDICT_PAIRS)
    + literal_column("1"),
    "answer_a": func.coalesce(battles.c.answer_a_id, _MISSING),
    "answer_b": func.coalesce(battles.c.answer_b_id, _MISSING),
}
_STYLE_COLUMNS = {f"{side}_{name}": func.coalesce(battles.c[f"answer_{side}_{name}"], _MISSING)
                  for side in ("a", "b") for name in STYLE_FIELDS}  # imported battles only
_TEXT_COLUMNS = {
    "model_a": battles.c.model_a,
    "model_b": battles.c.model_b,
    "question_id": func.coalesce(battles.c.question_id, literal_column("''")),
    "category": func.coalesce(battles.c.category, literal_column("''")),
}
_COMMA = literal_column("','")
_UNIT_SEPARATOR = literal_column("char(31)")  # _SEPARATOR


def _read_concatenated(store: Store, selection: BattleSelection,
                       numbers: dict[str, Any]) -> dict[str, Any] | None:
    """Every column as one string, numbers and texts by two connections at once (SQLite builds
    the strings without holding Python's lock). None when a text holds the separator or the two
    reads saw different battles (a writer in between); then rows are read."""
    with store.connect() as connection:
        newest = connection.execute(select(func.max(battles.c.id)).where(*selection.conditions())).scalar()
    if newest is None:
        return _empty_columns(numbers)
    conditions = [*selection.conditions(), battles.c.id <= newest]
    groups = [
        [func.group_concat(expression, _COMMA) for expression in numbers.values()],
        [func.group_concat(expression, _UNIT_SEPARATOR) for expression in _TEXT_COLUMNS.values()],
    ]

    def read(aggregates: list[Any]) -> tuple[Any, ...]:
        with store.connect() as connection:
            return tuple(connection.execute(select(func.count(), func.sum(battles.c.id), *aggregates)
                                            .where(*conditions)).one())

    with ThreadPoolExecutor(max_workers=2) as pool:
        number_values, text_values = pool.map(read, groups)
    if number_values[:2] != text_values[:2]:
        return None
    count = number_values[0]
    out: dict[str, Any] = {}
    for name, text in zip(numbers, number_values[2:]):
        out[name] = np.fromstring(text, dtype=np.int64, sep=",")  # text mode: not deprecated
        if len(out[name]) != count:
            return None
    for name, text in zip(_TEXT_COLUMNS, text_values[2:]):
        out[name] = text.split(_SEPARATOR)
        if len(out[name]) != count:
            return None
    return out


def _read_rows(connection: Any, selection: BattleSelection, numbers: dict[str, Any]) -> dict[str, Any]:
    names = [*numbers, *_TEXT_COLUMNS]
    query = select(*numbers.values(), *_TEXT_COLUMNS.values()).where(*selection.conditions())
    rows = [tuple(row) for part in connection.execute(query).partitions(100_000) for row in part]
    if not rows:
        return _empty_columns(numbers)
    out: dict[str, Any] = {}
    for k, name in enumerate(names):
        column = [row[k] for row in rows]
        out[name] = np.array(column, dtype=np.int64) if name in numbers else column
    return out


def _empty_columns(numbers: dict[str, Any]) -> dict[str, Any]:
    return {**{name: np.zeros(0, dtype=np.int64) for name in numbers}, **{name: [] for name in _TEXT_COLUMNS}}


def _from_columns(columns: dict[str, Any], info: dict[str, tuple[str, bool]]) -> BattleSet:
    order = np.lexsort((columns["id"], columns["tstamp_us"]))
    if np.array_equal(order, np.arange(len(order))):  # stored in battle order, as they usually are
        order = slice(None)
    outcome = columns["outcome"][order]
    winner, verdicts = np.floor_divide(outcome, 8), outcome % 8 - 1  # verdicts -1: unknown
    if (winner < 0).any():
        raise ArenaError("battles with unknown winner values in the store")
    n = len(winner)
    model_names, model_codes = _factorize(columns["model_a"] + columns["model_b"])
    question_names, cluster = _factorize(columns["question_id"])
    category_names, category_codes = _factorize(columns["category"])
    audiences = sorted({info[q][0] for q in question_names if q in info and info[q][0]})
    audience_index = {name: k for k, name in enumerate(audiences)}
    style = {}
    for side in ("a", "b"):
        values = np.empty((n, len(STYLE_FIELDS)))
        for k, name in enumerate(STYLE_FIELDS):
            values[:, k] = columns[f"{side}_{name}"][order]
        values[values < 0] = np.nan
        style[side] = values
    return BattleSet(
        models=model_names,
        a=model_codes[:n][order], b=model_codes[n:][order],
        score_a=np.array([1.0, 0.0, 0.5, 0.5])[winner],
        cluster=cluster[order], questions=question_names,
        question_audience=np.array([audience_index.get(info.get(q, ("", False))[0], -1) for q in question_names],
                                   dtype=np.int64),
        question_safety=np.array([info.get(q, ("", False))[1] for q in question_names], dtype=bool),
        audiences=audiences, category=category_codes[order], categories=category_names,
        style_a=style["a"], style_b=style["b"],
        answer_a=columns["answer_a"][order], answer_b=columns["answer_b"][order],
        verdicts=verdicts, battle_id=columns["id"][order], tstamp_us=columns["tstamp_us"][order],
    )


def stored_inputs_digest(store: Store, selection: BattleSelection) -> str:
    """A digest of what a rating of `selection` would read, from aggregates alone (no battle is read).

    The battles' count, newest id, id sum and tstamp total (battles are only ever added or
    deleted, never changed in place; one deleted and judged again may get its old id back, but
    not its old time), and every question's category, audience and safety flag. Equal digests
    mean the same battles and views, so an identical earlier snapshot can be reused unread.
    """
    query = select(func.count(), func.max(battles.c.id), func.sum(battles.c.id),
                   func.total(battles.c.tstamp)).where(*selection.conditions())
    digest = hashlib.sha256()
    with store.connect() as connection:
        digest.update(repr(tuple(connection.execute(query).one())).encode())
        for row in connection.execute(select(questions.c.id, questions.c.category, questions.c.audience,
                                             questions.c.safety_critical).order_by(questions.c.id)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:32]


def battles_fingerprint(bs: BattleSet) -> str:
    """A digest of everything in the battles that a rating depends on (order included)."""
    digest = hashlib.sha256()
    for names in (bs.models, bs.questions, bs.categories, bs.audiences):
        digest.update(_SEPARATOR.join(names).encode() + b"\x1e")
    for array in (bs.a, bs.b, bs.score_a, bs.cluster, bs.category, bs.question_audience, bs.question_safety,
                  bs.style_a, bs.style_b, bs.answer_a, bs.answer_b, bs.verdicts, bs.battle_id, bs.tstamp_us):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


# --- the answers a rating counted -----------------------------------------------------------------


def answer_set_digest(answer_ids: Iterable[int]) -> str:
    ids = np.unique(np.asarray(list(answer_ids), dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()[:32]


def save_answer_set(store: Store, answer_ids: np.ndarray) -> str:
    """Store this set of answer ids once (keyed by its digest); returns the digest."""
    ids = np.unique(answer_ids[answer_ids >= 0])
    digest = answer_set_digest(ids)
    with store.transaction() as connection:
        known = connection.execute(select(rated_answers.c.answer_set)
                                   .where(rated_answers.c.answer_set == digest).limit(1)).first()
        if known is None:
            rows = [{"answer_set": digest, "answer_id": int(k)} for k in ids]
            for start in range(0, len(rows), 10_000):
                connection.execute(rated_answers.insert(), rows[start:start + 10_000])
    return digest
