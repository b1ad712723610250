"""Everything the dashboard shows, as plain data: read from the store, shaped into tables.

No Streamlit here, so every function can be unit-tested on its own; `dashboards/` only adds
caching and widgets. Ratings come from the stored snapshot (written by `arena rate`), never
from a refit. Queries that could touch many rows (the question explorer, invalid verdicts)
take filters and a LIMIT, and full texts are read only for the one battle being looked at.
The dashboard never writes to the store.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from arena.battles_io import export_rows, write_battles
from arena.config import ArenaConfig, ModelConfig, load_config
from arena.errors import ArenaError
from arena.judge.validate import load_report as load_validation_report
from arena.judge.validation_report import METRICS as VALIDATION_METRICS
from arena.judge.validation_report import ValidationReport
from arena.ratings.bt import win_probability
from arena.ratings.compare import HeadToHead, head_to_head
from arena.ratings.render import flags_text, interval_method
from arena.ratings.report import FLAG_HELP, METHOD, Board, ModelRow, RatingReport
from arena.ratings.snapshots import Snapshot, latest_snapshot, older_snapshots, snapshot_history
from arena.store.battles import AUDIENCE_PREFIX, SAFETY_VIEW, BattleSelection
from arena.store.engine import Store, open_read_only
from arena.store.schema import (
    WINNER_SCORE,
    answers,
    battles,
    judgments,
    questions,
    snapshots,
    validation_items,
    validation_judgments,
)

ALL_CATEGORIES = "All questions"
PIPELINE_COMMANDS = ("arena generate", "arena judge", "arena rate")
SNIPPET_CHARS = 160


# ---------------------------------------------------------------------------------------------
# Opening the project, and the guide shown when there is nothing to show yet


@dataclass(frozen=True)
class Guide:
    """What to tell the user instead of showing data: the problem and the commands to run."""

    message: str
    commands: tuple[str, ...] = PIPELINE_COMMANDS


@dataclass(frozen=True)
class Project:
    config: ArenaConfig
    store: Store


def with_config_flag(command: str, config_path: Path | None) -> str:
    return f"{command} -c {config_path}" if config_path is not None else command


def config_or_guide(config_path: Path) -> ArenaConfig | Guide:
    """The project file, or a guide when it is missing or invalid."""
    try:
        return load_config(config_path)
    except ArenaError as exc:
        return Guide(f"No usable project file: {exc}", ("arena.yaml: see the README's example",)
                     + tuple(with_config_flag(c, config_path) for c in PIPELINE_COMMANDS))


def store_or_guide(config: ArenaConfig) -> Store | Guide:
    """The read-only store, or a guide when there is none yet (the dashboard never creates it)."""
    try:
        return open_read_only(config.storage_url)
    except ArenaError as exc:
        return no_store_guide(config, exc)


def no_store_guide(config: ArenaConfig, problem: Exception) -> Guide:
    return Guide(f"Nothing to show yet: {problem}",
                 tuple(with_config_flag(c, config.path) for c in PIPELINE_COMMANDS))


def open_project(config_path: Path) -> Project | Guide:
    """The config and the read-only store, or a guide when either is missing or unusable."""
    config = config_or_guide(config_path)
    if isinstance(config, Guide):
        return config
    store = store_or_guide(config)
    return store if isinstance(store, Guide) else Project(config, store)


def progress_guide(store: Store, config_path: Path | None) -> Guide:
    """When there is no snapshot: how far the pipeline got, and what to run next."""
    with store.connect() as connection:
        n_answers = connection.execute(select(func.count()).select_from(answers)).scalar_one()
        n_judgments = connection.execute(select(func.count()).select_from(judgments)).scalar_one()
        n_battles = connection.execute(select(func.count()).select_from(battles)).scalar_one()
    counts = f"The store has {n_answers} answers, {n_judgments} judgments and {n_battles} battles, "
    if n_answers == 0 and n_battles == 0:
        todo = PIPELINE_COMMANDS
    elif n_battles == 0:
        todo = PIPELINE_COMMANDS[1:]
    else:
        todo = PIPELINE_COMMANDS[2:]
    message = counts + "but no ratings yet. Run these commands, then reload this page:"
    older = older_snapshots(store)
    if older and n_battles:
        message = (counts + f"and {older} rating snapshot(s) made by an earlier version of the rating method, "
                   "which this dashboard does not show. Rate again, then reload this page:")
    return Guide(message, tuple(with_config_flag(c, config_path) for c in todo))



def data_version(store: Store) -> tuple[int, int, int]:
    """Cheap to read, and changes whenever a snapshot, battle or judgment lands: a cache key."""
    with store.connect() as connection:
        return (
            connection.execute(select(func.max(snapshots.c.id))).scalar() or 0,
            connection.execute(select(func.max(battles.c.id))).scalar() or 0,
            connection.execute(select(func.max(judgments.c.id))).scalar() or 0,
        )


# ---------------------------------------------------------------------------------------------
# Snapshots


def category_view(snapshot: Snapshot, category: str | None) -> Board:
    """The board of all the snapshot's battles (category None) or of one view (status "missing" if none)."""
    if category is None or category == ALL_CATEGORIES:
        return snapshot.report.board
    board = snapshot.report.view(category)
    if board is None:
        return Board(view=category, status="missing", n_battles=0, n_questions=0, min_battles=0, rows=(),
                     pairwise=None, style=None, groups=(), notes=())
    return board


def snapshot_categories(snapshot: Snapshot) -> list[str]:
    """Question categories first, then audiences ("audience:patient"), then the safety-critical view."""
    return sorted(snapshot.report.view_names,
                  key=lambda n: (n == SAFETY_VIEW, n.startswith(AUDIENCE_PREFIX), n))


def snapshot_selection(snapshot: Snapshot, category: str | None) -> BattleSelection:
    """The battles the snapshot rated, in all categories (None) or one view: what every page shows."""
    return snapshot.report.selection.for_view(None if category in (None, ALL_CATEGORIES) else category)


def snapshot_sources(store: Store) -> list[str]:
    """Battle sources that have a current snapshot: "judge" first, then imports by name."""
    with store.connect() as connection:
        found = connection.execute(select(snapshots.c.source).where(snapshots.c.method == METHOD)
                                   .distinct()).scalars().all()
    return sorted(found, key=lambda s: (s != "judge", s))


def newest_snapshot(store: Store, source: str) -> Snapshot | None:
    """The newest snapshot of all categories of `source` (what `arena rate` stored last)."""
    return latest_snapshot(store, source)


def rating_history(store: Store, snapshot: Snapshot, category: str | None) -> pd.DataFrame:
    """Each model's rating and 95% CI in every snapshot comparable with `snapshot`, oldest first.

    Comparable: same battle source and, for judged battles, the same judge and rubric (judge key),
    made by this rating method (older methods' snapshots are counted by `older_snapshots`).
    """
    records: list[dict[str, Any]] = []
    for older in snapshot_history(store, snapshot.source, judge_key=snapshot.judge_key):
        view = category_view(older, category)
        if not view.ok:
            continue
        for entry in view.rows:
            records.append({
                "snapshot": older.id, "created_at": older.created_at, "model": entry.model,
                "rating": entry.rating, "ci_low": entry.ci_low, "ci_high": entry.ci_high,
                "battles": entry.battles,
            })
    return pd.DataFrame(records, columns=["snapshot", "created_at", "model", "rating", "ci_low",
                                          "ci_high", "battles"])


# ---------------------------------------------------------------------------------------------
# Leaderboard


LEADERBOARD_COLUMNS = [
    "Rank", "Rank (CI)", "Model", "Rating", "CI low", "CI high", "Battles", "Win rate",
    "Rating (SC)", "SC CI low", "SC CI high", "Flags", "Backend", "Quantization", "Parameters",
]


def rank_span(low: Any, high: Any) -> str:
    return str(low) if low == high else f"{low}–{high}"


def _model_metadata(config: ArenaConfig | None, name: str) -> tuple[str, str, str]:
    entry: ModelConfig | None = None
    if config is not None:
        entry = next((m for m in config.models if m.name == name), None)
    if entry is None:
        return "", "", ""
    return entry.backend, entry.quantization or "", entry.parameters or ""


def leaderboard_frame(view: Board, config: ArenaConfig | None) -> pd.DataFrame:
    """One row per model, best first, with the report's numbers unrounded (the view formats)."""
    records = []
    for row in sorted(view.rows, key=lambda r: (r.rank, -r.rating)):
        backend, quantization, parameters = _model_metadata(config, row.model)
        records.append({
            "Rank": row.rank,
            "Rank (CI)": rank_span(row.rank_ci_low, row.rank_ci_high),
            "Model": row.model,
            "Rating": row.rating,
            "CI low": row.ci_low,
            "CI high": row.ci_high,
            "Battles": row.battles,
            "Win rate": row.win_rate,
            "Rating (SC)": row.rating_sc,
            "SC CI low": row.ci_low_sc,
            "SC CI high": row.ci_high_sc,
            "Flags": flags_text(row),
            "Backend": backend,
            "Quantization": quantization,
            "Parameters": parameters,
        })
    return pd.DataFrame(records, columns=LEADERBOARD_COLUMNS)


def headline(view: Board) -> str:
    """One sentence: who leads, by how much, and whether the lead is certain."""
    if not view.ok:
        return ""
    rows = sorted(view.rows, key=lambda r: -r.rating)
    top = rows[0]
    text = (f"**{top.model}** leads with {top.rating:.0f} "
            f"(95% CI {top.ci_low:.0f}–{top.ci_high:.0f}) over {view.n_battles} battles.")
    tied = [r.model for r in rows[1:] if r.rank == 1 or r.ci_high >= top.ci_low]
    if tied:
        names = ", ".join(f"**{m}**" for m in tied)
        text += f" Its interval overlaps {names}: the lead is not yet certain."
    elif len(rows) > 1:
        text += " Its interval overlaps no other model's: the lead is clear."
    return text


def warnings_for(view: Board) -> list[str]:
    """What a reader must know before comparing two rows: incomparable groups, provisional ratings."""
    out = []
    if view.groups:
        parts = "; ".join(f"group {k}: {', '.join(g)}" for k, g in enumerate(view.groups, start=1))
        out.append(f"Not comparable across groups: these battles form {len(view.groups)} groups with no battle "
                   f"between them ({parts}). Ratings in different groups are related only by the prior.")
    flagged = [r for r in view.rows if r.flags]
    if flagged:
        out.append("Flagged ratings: " + "; ".join(f"**{r.model}** ({flags_text(r)})" for r in flagged)
                   + ". " + " ".join(f"*{name}*: {why}." for name, why in FLAG_HELP.items()
                                    if any(name in r.flags for r in flagged)))
    return out


def leaderboard_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Pairwise matrices and head to head


@dataclass(frozen=True)
class PairMatrices:
    """Row model against column model: observed win rate, predicted win probability, battles,
    P(row rated above column) in the bootstrap; all from the snapshot, models by rating."""

    order: list[str]
    observed: pd.DataFrame
    predicted: pd.DataFrame
    counts: pd.DataFrame
    prob_above: pd.DataFrame | None
    n_battles: int


def predicted_from_ratings(rows: tuple[ModelRow, ...], order: list[str]) -> pd.DataFrame:
    """P(row beats column) = 1 / (1 + 10^((R_col - R_row) / 400)) from the stored ratings."""
    rating = {r.model: r.rating for r in rows}
    data = [[None if r == c else float(win_probability(rating[r], rating[c])) for c in order] for r in order]
    return pd.DataFrame(data, index=order, columns=order, dtype=float)


def _ordered(matrix: np.ndarray, models: tuple[str, ...], order: list[str], diagonal: float = np.nan) -> pd.DataFrame:
    position = [models.index(m) for m in order]
    frame = pd.DataFrame(np.asarray(matrix, dtype=float)[np.ix_(position, position)], index=order, columns=order)
    values = frame.to_numpy(copy=True)
    np.fill_diagonal(values, diagonal)
    return pd.DataFrame(values, index=order, columns=order)


def pair_matrices(snapshot: Snapshot, view: Board) -> PairMatrices:
    """The board's pairwise tables, rows and columns in rating order."""
    order = view.models
    pairwise = view.pairwise
    assert pairwise is not None
    return PairMatrices(
        order=order,
        observed=_ordered(pairwise.observed(), pairwise.models, order),
        predicted=predicted_from_ratings(view.rows, order),
        counts=_ordered(pairwise.battles, pairwise.models, order),
        prob_above=None if pairwise.prob_above is None else _ordered(pairwise.prob_above, pairwise.models, order),
        n_battles=view.n_battles,
    )


def ci_caption(snapshot: Snapshot) -> str:
    """How the snapshot's 95% intervals were made (question- or battle-level bootstrap)."""
    return interval_method(snapshot.report)


def compare_models(snapshot: Snapshot, view: Board, model_a: str, model_b: str) -> HeadToHead:
    """P(A rated above B), the head-to-head record and the sign test, as `arena rate --compare` prints."""
    params = snapshot.report.params
    return head_to_head(view, model_a, model_b, params.bootstrap, params.bootstrap_rounds)


# ---------------------------------------------------------------------------------------------
# Question explorer


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


def search_battles(store: Store, flt: BattleFilter) -> pd.DataFrame:
    """Matching battles, newest first, at most `flt.limit`; only a snippet of each question."""
    joined, ab, ba, conditions = _explorer_query(flt)
    query = (
        select(battles.c.id, battles.c.question_id, battles.c.category, battles.c.model_a,
               battles.c.model_b, battles.c.winner, ab.c.verdict, ba.c.verdict, ab.c.valid,
               ba.c.valid, func.substr(questions.c.text, 1, SNIPPET_CHARS))
        .select_from(joined).where(*conditions)
        .order_by(battles.c.id.desc()).limit(flt.limit).offset(flt.offset)
    )
    with store.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=EXPLORER_COLUMNS)


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


def winner_name(detail: BattleDetail) -> str:
    return {"model_a": detail.model_a, "model_b": detail.model_b}.get(detail.winner, detail.winner)


# ---------------------------------------------------------------------------------------------
# Judge diagnostics


def length_win_table(store: Store, selection: BattleSelection, bins: int = 10) -> pd.DataFrame:
    """How often the longer answer wins, by how much longer it is.

    x = |len_a - len_b| / (len_a + len_b) in equal-width bins; y = the longer answer's score
    (ties half). A judge without length bias stays near 0.5 across the bins.
    """
    query = select(battles.c.answer_a_len, battles.c.answer_b_len, battles.c.winner).where(
        *selection.conditions(),
        battles.c.answer_a_len.is_not(None), battles.c.answer_b_len.is_not(None))
    with store.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).all(), columns=["len_a", "len_b", "winner"])
    columns = ["bin_low", "bin_high", "longer_wins", "battles"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    total = (frame["len_a"] + frame["len_b"]).astype(float)
    diff = (frame["len_a"] - frame["len_b"]).astype(float).where(total > 0, 0.0) / total.where(total > 0, 1.0)
    score_a = frame["winner"].map(WINNER_SCORE)
    longer_score = score_a.where(diff >= 0, 1.0 - score_a)
    keep = diff != 0  # equal lengths say nothing about length bias
    edges = [k / bins for k in range(bins + 1)]
    index = pd.cut(diff[keep].abs(), edges, include_lowest=True, labels=False)
    grouped = longer_score[keep].groupby(index).agg(["mean", "size"])
    records = [{"bin_low": edges[int(k)], "bin_high": edges[int(k) + 1], "longer_wins": float(row["mean"]),
                "battles": int(row["size"])} for k, row in grouped.iterrows()]
    return pd.DataFrame(records, columns=columns)


def invalid_judgments(store: Store, judge_key: str | None, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """How many judgments have no usable verdict, and the newest of them with a raw-output snippet."""
    conditions = [judgments.c.valid == false()]
    if judge_key is not None:
        conditions.append(judgments.c.judge_key == judge_key)
    query = (
        select(judgments.c.id, judgments.c.question_id, judgments.c.model_a, judgments.c.model_b,
               judgments.c.attempts, judgments.c.truncated, func.substr(judgments.c.raw_output, 1, 300))
        .where(*conditions).order_by(judgments.c.id.desc()).limit(limit)
    )
    with store.connect() as connection:
        total = connection.execute(select(func.count()).select_from(judgments).where(*conditions)).scalar_one()
        rows = connection.execute(query).all()
    frame = pd.DataFrame(rows, columns=["judgment", "question_id", "shown_a", "shown_b", "attempts",
                                        "truncated", "raw_output"])
    return total, frame


def diagnostics_rows(report: RatingReport) -> list[tuple[str, str, str]]:
    """(label, value, what it means) for the judge diagnostics the ratings stage stored."""
    d = report.diagnostics

    def pct(value: float | None) -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"

    corr = d.length_win_correlation
    return [
        ("First-position win share", pct(d.first_position_share),
         "How often the answer shown first wins; 50% means no position bias."),
        ("Order disagreement", pct(d.order_disagreement),
         "Pairs whose verdict changed when the answers swapped places."),
        ("Length-win correlation", "n/a" if corr is None else f"{corr:+.3f}",
         "Correlation of the relative answer length (tokens) with winning; 0 means no length bias."),
        ("Invalid verdicts", f"{d.invalid_verdicts} of {d.judgments}",
         "Judgments with no parsable verdict after every retry."),
    ]


# ---------------------------------------------------------------------------------------------
# Judge validation (`arena judge validate`)


def validation_version(store: Store) -> tuple[int, int]:
    """Changes whenever validation items are synced or validation judgments land: a cache key."""
    with store.connect() as connection:
        return (connection.execute(select(func.max(validation_items.c.id))).scalar() or 0,
                connection.execute(select(func.max(validation_judgments.c.id))).scalar() or 0)


def validation_runs(store: Store) -> pd.DataFrame:
    """One row per (dataset, judge key) with stored validation judgments, newest first."""
    joined = validation_items.join(
        validation_judgments, validation_items.c.fingerprint == validation_judgments.c.item_fingerprint)
    query = (select(validation_items.c.dataset, validation_judgments.c.judge_key,
                    func.max(validation_judgments.c.judge), func.count(), func.max(validation_judgments.c.created_at))
             .select_from(joined)
             .group_by(validation_items.c.dataset, validation_judgments.c.judge_key)
             .order_by(func.max(validation_judgments.c.created_at).desc()))
    with store.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["dataset", "judge_key", "judge", "judgments", "last_judged"])


def validation_report(store: Store, dataset: str, judge_key: str) -> ValidationReport:
    return load_validation_report(store, dataset, judge_key)


def validation_frame(report: ValidationReport) -> pd.DataFrame:
    """The report as a table: one row per group (all, then each category), metrics with 95% CIs."""
    records = []
    for group in [report.overall, *report.categories]:
        record: dict[str, Any] = {"group": group.name, "pairs": group.pairs}
        record.update({short: getattr(group, key).text() for key, short, _ in VALIDATION_METRICS})
        records.append(record)
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------
# Downloads


def battles_download(store: Store, selection: BattleSelection, fmt: str) -> bytes:
    """The battles as `arena battles export` writes them (same fields, battle order), as CSV or a
    JSON array (the LMArena release format, which `arena battles import` reads back)."""
    if fmt not in ("csv", "json"):
        raise ArenaError(f"unknown download format {fmt!r} (expected csv or json)")
    out = io.StringIO()
    write_battles(export_rows(store, selection.conditions()), out, fmt)
    return out.getvalue().encode("utf-8")
