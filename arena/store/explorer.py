"""The dashboard's battle explorer: searching a snapshot's battles, and one battle in full.

Queries that could touch many rows take filters and a LIMIT; full texts are read only for the
one battle being looked at. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from arena.errors import ArenaError
from arena.store.battles import BattleSelection
from arena.store.engine import Store
from arena.store.schema import answers, battles, judgments, questions, snapshots

SNIPPET_CHARS = 160


OUTCOMES = ("any", "model won", "model lost", "tie", "tie (bothbad)", "order disagreement",
            "invalid verdict", "truncated")


@dataclass(frozen=True)
class BattleFilter:
    selection: BattleSelection  # the snapshot's battles (`snapshot_selection`)
    model: str | None = None  # battles this model took part in
    opponent: str | None = None  # ... against this one
    outcome: str = "any"  # one of OUTCOMES; "model won/lost" need `model`
    text: str = ""  # case-insensitive substring of the question
    limit: int = 200
    offset: int = 0


def _explorer_query(flt: BattleFilter) -> tuple[Any, Any, Any, list[ColumnElement[bool]]]:
    ab, ba = judgments.alias("ab"), judgments.alias("ba")
    joined = (
        battles.outerjoin(questions, battles.c.question_id == questions.c.id)
        .outerjoin(ab, battles.c.judgment_ab_id == ab.c.id)
        .outerjoin(ba, battles.c.judgment_ba_id == ba.c.id)
    )
    conditions = flt.selection.conditions()
    if flt.model:
        if flt.opponent:
            conditions.append(or_(and_(battles.c.model_a == flt.model, battles.c.model_b == flt.opponent),
                                  and_(battles.c.model_a == flt.opponent, battles.c.model_b == flt.model)))
        else:
            conditions.append(or_(battles.c.model_a == flt.model, battles.c.model_b == flt.model))
    elif flt.opponent:
        conditions.append(or_(battles.c.model_a == flt.opponent, battles.c.model_b == flt.opponent))
    outcome = _outcome_condition(flt, ab, ba)
    if outcome is not None:
        conditions.append(outcome)
    if flt.text.strip():
        conditions.append(battles.c.question_id.in_(
            select(questions.c.id).where(questions.c.text.ilike(f"%{_escape_like(flt.text.strip())}%", escape="\\"))))
    return joined, ab, ba, conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _outcome_condition(flt: BattleFilter, ab: Any, ba: Any) -> ColumnElement[bool] | None:
    if flt.outcome in ("model won", "model lost"):
        if not flt.model:
            raise ArenaError(f"outcome {flt.outcome!r} needs a model")
        side = ("model_a", "model_b") if flt.outcome == "model won" else ("model_b", "model_a")
        return or_(and_(battles.c.model_a == flt.model, battles.c.winner == side[0]),
                   and_(battles.c.model_b == flt.model, battles.c.winner == side[1]))
    if flt.outcome in ("tie", "tie (bothbad)"):
        return battles.c.winner == flt.outcome
    if flt.outcome == "order disagreement":
        # The same letter in both orders means the judge followed the position, not the answer.
        return and_(ab.c.valid, ba.c.valid, ab.c.verdict == ba.c.verdict)
    if flt.outcome == "invalid verdict":
        return or_(ab.c.valid == false(), ba.c.valid == false())
    if flt.outcome == "truncated":
        truncated_answers = select(answers.c.id).where(answers.c.truncated)
        return or_(ab.c.truncated, ba.c.truncated, ab.c.answer_a_id.in_(truncated_answers),
                   ab.c.answer_b_id.in_(truncated_answers))
    if flt.outcome != "any":
        raise ArenaError(f"unknown outcome {flt.outcome!r} (expected one of {', '.join(OUTCOMES)})")
    return None


EXPLORER_COLUMNS = ["battle", "question_id", "category", "model_a", "model_b", "winner",
                    "verdict_ab", "verdict_ba", "valid_ab", "valid_ba", "question"]


def search_battles(store: Store, flt: BattleFilter) -> list[tuple[Any, ...]]:
    """Matching battles (EXPLORER_COLUMNS), newest first, at most `flt.limit`; a snippet of each question."""
    joined, ab, ba, conditions = _explorer_query(flt)
    query = (
        select(battles.c.id, battles.c.question_id, battles.c.category, battles.c.model_a,
               battles.c.model_b, battles.c.winner, ab.c.verdict, ba.c.verdict, ab.c.valid,
               ba.c.valid, func.substr(questions.c.text, 1, SNIPPET_CHARS))
        .select_from(joined).where(*conditions)
        .order_by(battles.c.id.desc()).limit(flt.limit).offset(flt.offset)
    )
    with store.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def count_battles(store: Store, flt: BattleFilter) -> int:
    joined, _ab, _ba, conditions = _explorer_query(flt)
    with store.connect() as connection:
        return connection.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one()


@dataclass(frozen=True)
class AnswerView:
    model: str
    text: str
    truncated: bool
    completion_tokens: int | None


@dataclass(frozen=True)
class JudgmentView:
    order: str  # which model was shown as Response A
    shown_a: str
    shown_b: str
    verdict: str | None  # "A", "B" or None
    preferred: str | None  # the model the verdict picks
    valid: bool
    attempts: int
    truncated: bool
    p_a: float | None
    feedback: str | None
    raw_output: str


@dataclass(frozen=True)
class BattleDetail:
    battle_id: int
    question_id: str | None
    question: str
    category: str | None
    model_a: str
    model_b: str
    winner: str
    judge: str | None
    answer_a: AnswerView | None
    answer_b: AnswerView | None
    judgments: list[JudgmentView] = field(default_factory=list)
    reference: str | None = None  # the question's reference answer, when it has one


def _judgment_view(row: Any, order: str) -> JudgmentView:
    preferred = {"A": row.model_a, "B": row.model_b}.get(row.verdict or "")
    return JudgmentView(order=order, shown_a=row.model_a, shown_b=row.model_b, verdict=row.verdict,
                        preferred=preferred, valid=bool(row.valid), attempts=row.attempts or 1,
                        truncated=bool(row.truncated), p_a=row.p_a, feedback=row.feedback,
                        raw_output=row.raw_output)


def _answer_view(connection: Any, answer_id: int | None) -> AnswerView | None:
    if answer_id is None:
        return None
    row = connection.execute(select(answers).where(answers.c.id == answer_id)).first()
    if row is None:
        return None
    return AnswerView(row.model, row.text, bool(row.truncated), row.completion_tokens)


def battle_detail(store: Store, battle_id: int) -> BattleDetail | None:
    """One battle in full: the question, both answers and both judgments, for reading."""
    with store.connect() as connection:
        battle = connection.execute(select(battles).where(battles.c.id == battle_id)).first()
        if battle is None:
            return None
        question_row = connection.execute(select(questions.c.text, questions.c.reference_answer)
                                          .where(questions.c.id == battle.question_id)).first()
        question, reference = (question_row.text, question_row.reference_answer) if question_row else (None, None)
        ab = ba = None
        if battle.judgment_ab_id is not None:
            ab = connection.execute(select(judgments).where(judgments.c.id == battle.judgment_ab_id)).first()
        if battle.judgment_ba_id is not None:
            ba = connection.execute(select(judgments).where(judgments.c.id == battle.judgment_ba_id)).first()
        # Answer ids: in the (a, b) order model_a's answer is Response A; in (b, a) it is Response B.
        answer_a_id = ab.answer_a_id if ab is not None else (ba.answer_b_id if ba is not None else None)
        answer_b_id = ab.answer_b_id if ab is not None else (ba.answer_a_id if ba is not None else None)
        answer_a = _answer_view(connection, answer_a_id)
        answer_b = _answer_view(connection, answer_b_id)
    views = []
    if ab is not None:
        views.append(_judgment_view(ab, f"{battle.model_a} shown first"))
    if ba is not None:
        views.append(_judgment_view(ba, f"{battle.model_b} shown first"))
    return BattleDetail(battle_id=battle.id, question_id=battle.question_id, question=question or "",
                        category=battle.category, model_a=battle.model_a, model_b=battle.model_b,
                        winner=battle.winner, judge=battle.judge, answer_a=answer_a, answer_b=answer_b,
                        judgments=views, reference=reference)


def data_version(store: Store) -> tuple[int, int, int]:
    """Cheap to read, and changes whenever a snapshot, battle or judgment lands: a cache key."""
    with store.connect() as connection:
        return (
            connection.execute(select(func.max(snapshots.c.id))).scalar() or 0,
            connection.execute(select(func.max(battles.c.id))).scalar() or 0,
            connection.execute(select(func.max(judgments.c.id))).scalar() or 0,
        )


def answer_lengths(store: Store, selection: BattleSelection) -> list[tuple[int, int, str]]:
    """(model_a's answer length, model_b's, winner) of the selected battles that know both lengths."""
    query = select(battles.c.answer_a_len, battles.c.answer_b_len, battles.c.winner).where(
        *selection.conditions(), battles.c.answer_a_len.is_not(None), battles.c.answer_b_len.is_not(None))
    with store.connect() as connection:
        return [(row[0], row[1], row[2]) for row in connection.execute(query)]
