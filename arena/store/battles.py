"""Reading battles: the one selection of a rating's battles, and their columns read fast.

`BattleSelection` is the one definition of a snapshot's battles: a source, a judge key, the set
of answers rated (both answers of a battle must be in it), the newest battle id the rating saw,
and a view (a question category, an audience "audience:patient", or "safety-critical"). Its
`conditions()` are the SQL every reader filters with (`arena rate`, the dashboard's pages and
downloads); `arena.ratings.data.view_mask` is the same view on loaded battles, written beside
the numpy arrays.

`read_columns` reads the selected battles' columns. On SQLite and PostgreSQL it reads each column
as one concatenated string (`group_concat`, `string_agg`) and parses it with numpy: a million
battles in about a second, where row by row through Python takes several. Other databases are
read in row chunks. A judged battle's models and question are not read from its row at all but
from the answers it points to (a few thousand rows, not a million repeated names). The result is
the same (tests/ratings/test_data.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Text, and_, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from arena.answers import STYLE_NAMES
from arena.store.engine import Store
from arena.store.schema import (
    BATTLE_VERDICTS,
    BATTLE_WINNERS,
    JUDGE_SOURCE,
    answers,
    battles,
    questions,
    rated_answers,
)

AUDIENCE_PREFIX = "audience:"  # a view of one audience's questions: "audience:patient"
SAFETY_VIEW = "safety-critical"  # a view of the questions flagged safety-critical
SEPARATOR = "\x1f"  # between the texts of one group_concat column (the ASCII unit separator)


# --- which battles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BattleSelection:
    """The battles of one rating: what `arena rate` counted and the dashboard shows with it."""

    source: str
    judge_key: str | None = None
    answer_set: str | None = None  # digest of the rated answers (rated_answers); None = any answers
    max_battle_id: int | None = None  # battles stored later are not part of it
    view: str | None = None  # None = all; a category, "audience:<name>" or SAFETY_VIEW
    judge_keys: tuple[str, ...] = ()  # a jury's battles: any of these judge keys (with judge_key None)

    def for_view(self, view: str | None) -> BattleSelection:
        return replace(self, view=view)

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [battles.c.source == self.source]
        if self.judge_key is not None:
            conditions.append(battles.c.judge_key == self.judge_key)
        if self.judge_keys:
            conditions.append(battles.c.judge_key.in_(self.judge_keys))
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
                "max_battle_id": self.max_battle_id, "view": self.view, "judge_keys": list(self.judge_keys)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BattleSelection:
        return cls(data["source"], data.get("judge_key"), data.get("answer_set"), data.get("max_battle_id"),
                   data.get("view"), tuple(data.get("judge_keys") or ()))


def _view_condition(view: str | None) -> ColumnElement[bool] | None:
    if view is None:
        return None
    if view == SAFETY_VIEW:
        return battles.c.question_id.in_(select(questions.c.id).where(questions.c.safety_critical.is_(True)))
    if view.startswith(AUDIENCE_PREFIX):
        audience = view.removeprefix(AUDIENCE_PREFIX)
        return battles.c.question_id.in_(select(questions.c.id).where(questions.c.audience == audience))
    return battles.c.category == view


# --- reading them -------------------------------------------------------------------------------


def question_info(store: Store) -> dict[str, tuple[str, bool]]:
    """{question id: (audience, safety-critical)} of every stored question."""
    query = select(questions.c.id, questions.c.audience, questions.c.safety_critical)
    with store.connect() as connection:
        return {row.id: (row.audience or "", bool(row.safety_critical)) for row in connection.execute(query)}


@dataclass(frozen=True, eq=False)
class CodedTexts:
    """A text column read as codes into `names` (-1: unknown), not as a million repeated strings."""

    names: list[str]
    codes: np.ndarray


def read_columns(store: Store, selection: BattleSelection) -> dict[str, Any]:
    """The selected battles' columns, in the order the store returns them: numbers as int64 arrays (id, tstamp_us, outcome =
    8 * winner code + verdicts code + 1, answer_a, answer_b, a_<style>, b_<style>; -1 where unknown)
    and texts (model_a, model_b, question_id, category; "" where unknown) as lists or `CodedTexts`.

    A judged battle's style covariates are its answers' (answers table); an imported battle's
    are on its row. A judged battle's models and question are its answers' too (the judge
    writes them from the answers): read from the few thousand answers, not from each battle.
    """
    judged = selection.source == JUDGE_SOURCE
    with store.connect() as connection:
        dialect = connection.dialect.name
    columns = None
    if dialect in _CONCAT:
        columns = _read_concatenated(store, selection, _JUDGED_GROUPS if judged else _IMPORTED_GROUPS, dialect)
        if columns is not None and judged:
            with store.connect() as connection:
                if not _from_answers(connection, columns, texts=True):
                    columns = None  # a battle whose answer is not stored: its texts are read from its row
    if columns is None:
        numbers = _NUMBER_COLUMNS if judged else {**_NUMBER_COLUMNS, **_STYLE_COLUMNS}
        with store.connect() as connection:
            columns = _read_rows(connection, selection, numbers)
            if judged:
                _from_answers(connection, columns, texts=False)
    return columns


def _from_answers(connection: Any, columns: dict[str, Any], texts: bool) -> bool:
    """Fill each battle's style columns from its two answers (-1 where unknown) and, with `texts`,
    its models and question; False (nothing filled) when `texts` and some answer is not stored."""
    ids = np.concatenate([columns["answer_a"], columns["answer_b"]])
    ids = ids[ids >= 0]
    low = int(ids.min()) if len(ids) else 0
    table, models, question_ids = (_answer_rows(connection, low, int(ids.max()), texts) if len(ids)
                                   else (np.zeros((0, 5), dtype=np.int64), np.array([], dtype=object),
                                         np.array([], dtype=object)))
    # answer id -> row of the table (ids span a range of about as many answers as were read)
    row_of = np.full(int(ids.max()) - low + 2 if len(ids) else 1, -1, dtype=np.int64)
    row_of[table[:, 0] - low] = np.arange(len(table))
    position = {side: row_of[np.where(columns[f"answer_{side}"] >= 0, columns[f"answer_{side}"] - low, -1)]
                for side in ("a", "b")}  # -1 (unknown) reads the last slot, which is -1
    if texts:
        if (position["a"] < 0).any() or (position["b"] < 0).any():
            return False
        model_names, model_codes = _codes(models)
        question_names, question_codes = _codes(question_ids)
        for side in ("a", "b"):
            columns[f"model_{side}"] = CodedTexts(model_names, model_codes[position[side]])
        columns["question_id"] = CodedTexts(question_names, question_codes[position["a"]])
    styles = np.vstack([table[:, 1:], np.full((1, 4), -1, dtype=np.int64)])  # the last row: unknown
    for side in ("a", "b"):
        per_battle = styles[position[side]]
        for k, name in enumerate(STYLE_NAMES):
            columns[f"{side}_{name}"] = per_battle[:, k]
    return True


def _answer_rows(connection: Any, low: int, high: int, texts: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The answers with ids in [low, high], by id: (id and style counts as an (A, 5) table, models, question ids)."""
    values = [answers.c.id, *(func.coalesce(answers.c[c], _MISSING) for c in
                              ("completion_tokens", "headers", "list_items", "bold"))]
    names = [answers.c.model, answers.c.question_id] if texts else []
    where = answers.c.id.between(low, high)
    concat = _CONCAT.get(connection.dialect.name)
    if concat is not None:  # as the battles are read: one string a column
        separator = _UNIT_SEPARATOR[connection.dialect.name]
        row = connection.execute(select(*(concat(v, _COMMA) for v in values),
                                        *(concat(t, separator) for t in names)).where(where)).one()
        table = np.stack([np.fromstring(t or "", dtype=np.int64, sep=",") for t in row[:len(values)]], axis=1)
        text_columns = [np.array(t.split(SEPARATOR) if t else [], dtype=object) for t in row[len(values):]]
        if any(len(t) != len(table) for t in text_columns):  # a name holding the separator: read by rows
            concat = None
    if concat is None:
        rows = connection.execute(select(*values, *names).where(where)).all()
        table = np.array([tuple(r)[:len(values)] for r in rows], dtype=np.int64).reshape(-1, len(values))
        text_columns = [np.array([r[len(values) + k] for r in rows], dtype=object) for k in range(len(names))]
    order = np.argsort(table[:, 0], kind="stable")
    if not texts:
        return table[order], np.array([], dtype=object), np.array([], dtype=object)
    return table[order], text_columns[0][order], text_columns[1][order]


def _codes(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct values (in first-seen order) and each value's index among them."""
    names = list(dict.fromkeys(values.tolist()))
    position = {name: k for k, name in enumerate(names)}
    return names, np.fromiter(map(position.__getitem__, values.tolist()), dtype=np.int64, count=len(values))


# Constants are written into the SQL, not bound: a bound parameter is read again for every row,
# which costs a quarter of the time of reading a million battles. They are our own, never input.
_MISSING: ColumnElement[Any] = literal_column("-1")


def _code_of(column: Any, vocabulary: Sequence[str]) -> Any:
    return case(*((column == literal_column(f"'{value}'"), literal_column(str(k)))
                  for k, value in enumerate(vocabulary)), else_=_MISSING)


_NUMBER_COLUMNS = {
    "id": battles.c.id,
    "tstamp_us": cast(battles.c.tstamp * literal_column("1000000"), BigInteger),
    # winner and verdicts in one number: 8 * winner code + verdicts code + 1 (one column less to read)
    "outcome": _code_of(battles.c.winner, BATTLE_WINNERS) * literal_column("8")
    + _code_of(battles.c.verdicts, BATTLE_VERDICTS) + literal_column("1"),
    "answer_a": func.coalesce(battles.c.answer_a_id, _MISSING),
    "answer_b": func.coalesce(battles.c.answer_b_id, _MISSING),
}
_STYLE_COLUMNS = {f"{side}_{name}": func.coalesce(battles.c[f"answer_{side}_{name}"], _MISSING)
                  for side in ("a", "b") for name in STYLE_NAMES}  # imported battles only
_TEXT_COLUMNS = {
    "model_a": battles.c.model_a,
    "model_b": battles.c.model_b,
    "question_id": func.coalesce(battles.c.question_id, literal_column("''")),
    "category": func.coalesce(battles.c.category, literal_column("''")),
}
_COMMA: ColumnElement[Any] = literal_column("','")
_UNIT_SEPARATOR: dict[str, Any] = {"sqlite": literal_column("char(31)"), "postgresql": literal_column("chr(31)")}  # SEPARATOR
# One column's values as one string: aggregates of one query see the rows in the same order.
_CONCAT: dict[str, Any] = {
    "sqlite": lambda expression, separator: func.group_concat(expression, separator),
    "postgresql": lambda expression, separator: func.string_agg(cast(expression, Text), separator),
}

# What the two concurrent reads of SQLite get (names; texts are the _TEXT_COLUMNS), about equal
# halves of the work. Judged battles read no model or question texts: their answers have them.
_Groups = tuple[tuple[str, ...], tuple[str, ...]]
_JUDGED_GROUPS: _Groups = (("id", "tstamp_us", "outcome"), ("answer_a", "answer_b", "category"))
_IMPORTED_GROUPS: _Groups = (tuple(_NUMBER_COLUMNS) + tuple(_STYLE_COLUMNS), tuple(_TEXT_COLUMNS))
_COLUMNS = {**_NUMBER_COLUMNS, **_STYLE_COLUMNS, **_TEXT_COLUMNS}


def _read_concatenated(store: Store, selection: BattleSelection, groups: _Groups,
                       dialect: str) -> dict[str, Any] | None:
    """Every column as one string. On SQLite the two groups are read by two connections at once
    (SQLite builds the strings without holding Python's lock; both scans follow the same plan);
    on PostgreSQL by one query, since two scans of one table need not return rows in the same
    order. None when a text holds the separator or the two reads saw different battles (a
    writer in between); then rows are read."""
    concat = _CONCAT[dialect]
    with store.connect() as connection:
        newest = connection.execute(select(func.max(battles.c.id)).where(*selection.conditions())).scalar()
    if newest is None:
        numbers = [name for group in groups for name in group if name not in _TEXT_COLUMNS]
        return _empty_columns({name: None for name in numbers})
    conditions = [*selection.conditions(), battles.c.id <= newest]

    def aggregate(name: str) -> Any:
        return concat(_COLUMNS[name], _UNIT_SEPARATOR[dialect] if name in _TEXT_COLUMNS else _COMMA)

    def read(names: tuple[str, ...]) -> tuple[Any, ...]:
        with store.connect() as connection:
            return tuple(connection.execute(select(func.count(), func.sum(battles.c.id), *map(aggregate, names))
                                            .where(*conditions)).one())

    if dialect == "sqlite":
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(read, groups)
    else:
        both = read(groups[0] + groups[1])
        first, second = both[:2 + len(groups[0])], both[:2] + both[2 + len(groups[0]):]
    if first[:2] != second[:2]:
        return None
    count = first[0]
    out: dict[str, Any] = {}
    for name, text in zip(groups[0] + groups[1], first[2:] + second[2:], strict=True):
        if name in _TEXT_COLUMNS:
            out[name] = text.split(SEPARATOR)
        else:
            out[name] = np.fromstring(text or "", dtype=np.int64, sep=",")  # text mode: not deprecated
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


def stored_inputs_digest(store: Store, selection: BattleSelection) -> str:
    """A digest of what a rating of `selection` would read, from aggregates alone (no battle is read).

    The battles' count, newest id, id sum and tstamp total (battles are only ever added or
    deleted, never changed in place; one deleted and judged again may get its old id back, but
    not its old time), and every question's category, audience and safety flag. Equal digests
    mean the same battles and views, so an identical earlier snapshot can be reused unread.
    """
    digest = hashlib.sha256()
    with store.connect() as connection:
        tstamps = (func.total(battles.c.tstamp) if connection.dialect.name == "sqlite"
                   else func.coalesce(func.sum(battles.c.tstamp), 0.0))
        query = select(func.count(), func.max(battles.c.id), func.sum(battles.c.id),
                       tstamps).where(*selection.conditions())
        digest.update(repr(tuple(connection.execute(query).one())).encode())
        for row in connection.execute(select(questions.c.id, questions.c.category, questions.c.audience,
                                             questions.c.safety_critical).order_by(questions.c.id)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()[:32]


def newest_judge_name(store: Store, selection: BattleSelection) -> str | None:
    """The judge named on the newest battle of the selection's source (and judge key), up to its newest id."""
    query = select(battles.c.judge).where(battles.c.source == selection.source, battles.c.judge.is_not(None))
    if selection.judge_key is not None:
        query = query.where(battles.c.judge_key == selection.judge_key)
    if selection.judge_keys:
        query = query.where(battles.c.judge_key.in_(selection.judge_keys))
    if selection.max_battle_id is not None:
        query = query.where(battles.c.id <= selection.max_battle_id)
    with store.connect() as connection:
        return connection.execute(query.order_by(battles.c.id.desc()).limit(1)).scalar()


def battle_sources(store: Store) -> list[str]:
    """Every battle source in the store, sorted."""
    with store.connect() as connection:
        return sorted(s for s in connection.execute(select(battles.c.source).distinct()).scalars())


def newest_judge_key(store: Store) -> str | None:
    """The judge key of the newest judged battle."""
    query = (select(battles.c.judge_key).where(battles.c.source == JUDGE_SOURCE)
             .order_by(battles.c.tstamp.desc(), battles.c.id.desc()).limit(1))
    with store.connect() as connection:
        return connection.execute(query).scalar()


# --- export ---------------------------------------------------------------------------------


def battle_conditions(source: str | None, judge_key: str | None,
                      judge_keys: Sequence[str] = ()) -> list[ColumnElement[bool]]:
    """Battles of a source (None: all), of one judge key or of any of a jury's `judge_keys`."""
    conditions: list[ColumnElement[bool]] = []
    if source is not None:
        conditions.append(battles.c.source == source)
    if judge_key is not None:
        conditions.append(battles.c.judge_key == judge_key)
    if judge_keys:
        conditions.append(battles.c.judge_key.in_(judge_keys))
    return conditions


_ANSWER_STYLE = {"tokens": "completion_tokens", "headers": "headers", "list_items": "list_items", "bold": "bold"}


def _export_columns(fields: Sequence[str]) -> tuple[Any, list[Any]]:
    """The export's FROM clause and columns: a judged battle's style comes from its two answers."""
    sides = {side: answers.alias(f"answer_{side}") for side in ("a", "b")}
    joined: Any = battles
    for side, alias in sides.items():
        joined = joined.outerjoin(alias, and_(alias.c.id == battles.c[f"answer_{side}_id"],
                                              battles.c.source == JUDGE_SOURCE))
    columns: list[Any] = []
    for name in fields:
        side, _, style = name.removeprefix("answer_").partition("_")
        if name.startswith("answer_") and style in _ANSWER_STYLE:
            own = battles.c[name]
            columns.append(case((battles.c.source == JUDGE_SOURCE, sides[side].c[_ANSWER_STYLE[style]]),
                                else_=own).label(name))
        else:
            columns.append(battles.c[name])
    return joined, columns


def export_rows(store: Store, fields: Sequence[str],
                conditions: list[ColumnElement[bool]]) -> Iterator[dict[str, Any]]:
    """The battles matching `conditions` in battle order, as records of these battle columns; a
    judged battle's style columns (`answer_a_tokens`, ...) are its answers'."""
    joined, columns = _export_columns(fields)
    query = (select(*columns).select_from(joined).where(*conditions)
             .order_by(battles.c.tstamp, battles.c.id))
    with store.connect() as connection:
        for part in connection.execute(query).partitions(10_000):
            for row in part:
                yield row._asdict()


# --- import ---------------------------------------------------------------------------------


class BattleInserter:
    """One prepared INSERT for many rows, through the driver's executemany (SQLAlchemy's own
    per-row parameter processing costs about 25 microseconds a row; this, a third of that)."""

    def __init__(self, connection: Any, columns: list[str]) -> None:
        compiled = battles.insert().values({name: None for name in columns}).compile(
            dialect=connection.dialect, column_keys=columns)
        self.connection = connection
        self.sql = str(compiled)
        self.columns = columns
        self.order = [columns.index(name) for name in compiled.positiontup or ()] if compiled.positional else None
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB: the unique index stays cached

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.order is None:
            parameters: list[Any] = [dict(zip(self.columns, row, strict=False)) for row in rows]
        elif self.order == list(range(len(self.columns))):
            parameters = rows
        else:
            parameters = [tuple([row[k] for k in self.order]) for row in rows]
        self.connection.exec_driver_sql(self.sql, parameters)


@contextmanager
def battle_import(store: Store, source: str, columns: list[str]) -> Iterator[tuple[set[str], BattleInserter]]:
    """One transaction for an import: the dedup keys already stored under `source`, and an
    inserter of rows (tuples of `columns`)."""
    with store.transaction() as connection:
        known = set(connection.execute(select(battles.c.dedup_key).where(battles.c.source == source)).scalars())
        yield known, BattleInserter(connection, columns)
