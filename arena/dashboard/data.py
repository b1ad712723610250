"""Everything the dashboard shows, as plain data: read from the store, shaped into tables.

No Streamlit here, so every function can be unit-tested on its own; `common` and the pages only
add caching and widgets. Ratings come from the stored snapshot (written by `arena rate`), never
from a refit. The queries are the store's (`arena.store.explorer` and the table families);
those that could touch many rows take filters and a LIMIT. The dashboard never writes to the store.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.battles_io import EXPORT_FIELDS, write_battles
from arena.config import ArenaConfig, ModelConfig, load_config
from arena.errors import ArenaError
from arena.judge.validate import load_report as load_validation_report
from arena.judge.validation_report import METRICS as VALIDATION_METRICS
from arena.judge.validation_report import ValidationReport
from arena.ratings.bt import win_probability
from arena.ratings.compare import HeadToHead, head_to_head
from arena.ratings.cost import CostLine, read_cost
from arena.ratings.render import flags_text, interval_method
from arena.ratings.render_cost import BASIS, nightly_text, total_text
from arena.ratings.report import FLAG_HELP, Board, ModelRow, RatingReport
from arena.ratings.snapshots import Snapshot, latest_snapshot, older_snapshots, snapshot_history
from arena.ratings.snapshots import snapshot_sources as snapshot_sources
from arena.ratings.style import normalised_difference
from arena.safe_text import csv_cell, markdown_text
from arena.store import explorer
from arena.store import judgments as judgment_reads
from arena.store import validation as validation_reads
from arena.store.answers import count_rows
from arena.store.battles import AUDIENCE_PREFIX, SAFETY_VIEW, BattleSelection, export_rows
from arena.store.engine import Store, open_read_only

# the explorer's types and reads, which the pages use through this module
from arena.store.explorer import OUTCOMES as OUTCOMES
from arena.store.explorer import AnswerView as AnswerView
from arena.store.explorer import BattleDetail as BattleDetail
from arena.store.explorer import BattleFilter as BattleFilter
from arena.store.explorer import JudgmentView as JudgmentView
from arena.store.explorer import battle_detail as battle_detail
from arena.store.explorer import count_battles as count_battles
from arena.store.schema import WINNER_SCORE

ALL_CATEGORIES = "All questions"
PIPELINE_COMMANDS = ("arena generate", "arena judge", "arena rate")


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
    n_answers, n_judgments, n_battles = count_rows(store)
    counts = f"The store has {n_answers} answers, {n_judgments} judgments and {n_battles} battles, "
    todo: tuple[str, ...]
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
    """Changes whenever a snapshot, battle or judgment lands: the pages' cache key."""
    return explorer.data_version(store)


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
    text = (f"**{markdown_text(top.model)}** leads with {top.rating:.0f} "
            f"(95% CI {top.ci_low:.0f}–{top.ci_high:.0f}) over {view.n_battles} battles.")
    tied = [r.model for r in rows[1:] if r.rank == 1 or r.ci_high >= top.ci_low]
    if tied:
        names = ", ".join(f"**{markdown_text(m)}**" for m in tied)
        text += f" Its interval overlaps {names}: the lead is not yet certain."
    elif len(rows) > 1:
        text += " Its interval overlaps no other model's: the lead is clear."
    return text


def warnings_for(view: Board) -> list[str]:
    """What a reader must know before comparing two rows: incomparable groups, provisional ratings."""
    out = []
    if view.groups:
        parts = "; ".join(f"group {k}: {', '.join(markdown_text(m) for m in g)}"
                          for k, g in enumerate(view.groups, start=1))
        out.append(f"Not comparable across groups: these battles form {len(view.groups)} groups with no battle "
                   f"between them ({parts}). Ratings in different groups are related only by the prior.")
    flagged = [r for r in view.rows if r.flags]
    if flagged:
        out.append("Flagged ratings: " + "; ".join(f"**{markdown_text(r.model)}** ({flags_text(r)})" for r in flagged)
                   + ". " + " ".join(f"*{name}*: {why}." for name, why in FLAG_HELP.items()
                                    if any(name in r.flags for r in flagged)))
    return out


def leaderboard_csv(frame: pd.DataFrame) -> bytes:
    return safe_csv_frame(frame).to_csv(index=False).encode("utf-8")


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell through `csv_cell` (no formula runs when it is opened)."""
    texts = [name for name in frame.columns
             if pd.api.types.is_object_dtype(frame[name]) or pd.api.types.is_string_dtype(frame[name])]
    return frame.assign(**{name: frame[name].map(csv_cell) for name in texts})


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


def search_battles(store: Store, flt: BattleFilter) -> pd.DataFrame:
    """Matching battles, newest first, at most `flt.limit`; only a snippet of each question."""
    return pd.DataFrame(explorer.search_battles(store, flt), columns=explorer.EXPLORER_COLUMNS)


def winner_name(detail: BattleDetail) -> str:
    return {"model_a": detail.model_a, "model_b": detail.model_b}.get(detail.winner, detail.winner)


# ---------------------------------------------------------------------------------------------
# Judge diagnostics


def length_win_table(store: Store, selection: BattleSelection, bins: int = 10) -> pd.DataFrame:
    """How often the longer answer wins, by how much longer it is.

    x = |len_a - len_b| / (len_a + len_b + 1) (style control's relative difference,
    `arena.ratings.style.normalised_difference`, on characters) in equal-width bins; y = the longer answer's score
    (ties half). A judge without length bias stays near 0.5 across the bins.
    """
    frame = pd.DataFrame(explorer.answer_lengths(store, selection), columns=["len_a", "len_b", "winner"])
    columns = ["bin_low", "bin_high", "longer_wins", "battles"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    diff = pd.Series(normalised_difference(frame["len_a"].to_numpy(float), frame["len_b"].to_numpy(float)),
                     index=frame.index)
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
    total, rows = judgment_reads.invalid_judgments(store, judge_key, limit)
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


def jury_frame(report: RatingReport) -> pd.DataFrame:
    """A jury's ratings side by side: each model's jury rating and each judge's, with 95% CIs."""
    records = []
    for row in report.board.rows:
        record: dict[str, Any] = {"Model": row.model, "Jury": row.rating,
                                  "Jury CI": f"[{row.ci_low:.0f}, {row.ci_high:.0f}]"}
        for judge in report.judges:
            own = judge.board.row(row.model)
            record[judge.judge] = None if own is None else own.rating
            record[f"{judge.judge} CI"] = "" if own is None else f"[{own.ci_low:.0f}, {own.ci_high:.0f}]"
        records.append(record)
    columns = ["Model", "Jury", "Jury CI", *(c for j in report.judges for c in (j.judge, f"{j.judge} CI"))]
    return pd.DataFrame(records, columns=columns)


def agreement_frame(report: RatingReport) -> pd.DataFrame:
    """Cohen's kappa of each pair of a jury's judges on the battles both judged."""
    pairs = report.agreement.pairs if report.agreement is not None else ()
    return pd.DataFrame([{"Judges": f"{p.judge_a} ~ {p.judge_b}", "Shared battles": p.n,
                          "Same outcome": p.observed, "Cohen's kappa": p.kappa} for p in pairs],
                        columns=["Judges", "Shared battles", "Same outcome", "Cohen's kappa"])


def alpha_caption(report: RatingReport) -> str:
    agreement = report.agreement
    if agreement is None:
        return ""
    alpha = "undefined" if agreement.alpha is None else f"{agreement.alpha:.3f}"
    return (f"Krippendorff's alpha ({agreement.level}) of the jury: {alpha} on {agreement.n_alpha} battles "
            f"judged by at least two judges. Jury board: {agreement.rule}.")


def jury_diagnostics_frame(report: RatingReport) -> pd.DataFrame:
    """Each judge of a jury: its battles and the diagnostics of its own verdicts."""
    records = []
    for judge in report.judges:
        d = judge.diagnostics
        records.append({"Judge": judge.judge, "Judge key": judge.judge_key, "Battles": judge.board.n_battles,
                        "First-position win share": d.first_position_share, "Order disagreement": d.order_disagreement,
                        "Length-win correlation": d.length_win_correlation,
                        "Invalid verdicts": f"{d.invalid_verdicts} of {d.judgments}"})
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------
# Judge validation (`arena judge validate`)


def validation_version(store: Store) -> tuple[int, int]:
    """Changes whenever validation items are synced or validation judgments land: a cache key."""
    return validation_reads.validation_version(store)


def validation_runs(store: Store) -> pd.DataFrame:
    """One row per (dataset, judge key) with stored validation judgments, newest first."""
    return pd.DataFrame(validation_reads.validation_runs(store),
                        columns=["dataset", "judge_key", "judge", "judgments", "last_judged"])


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
    write_battles(export_rows(store, EXPORT_FIELDS, selection.conditions()), out, fmt)
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The cost ledger (ratings/cost.py): read live, so it shows what was spent since the snapshot


@dataclass(frozen=True)
class CostTables:
    models: pd.DataFrame  # one row per model: what its answers cost
    judges: pd.DataFrame  # one row per judge: what its judgments cost, also per 1,000 judgments
    total: str
    nightly: str | None  # the last nightly run's share, when there was one
    basis: str = BASIS


def _cost_record(line: CostLine, items: str) -> dict[str, Any]:
    return {"Name": line.name, "Runs": line.runs, items: line.items, "Prompt tokens": line.prompt_tokens,
            "Completion tokens": line.completion_tokens, "GPU-hours": line.gpu_hours, "USD": line.money}


def cost_tables(store: Store) -> CostTables | None:
    """The store's cost ledger as tables (None: no generate or judge run recorded yet)."""
    section = read_cost(store)
    if section is None:
        return None
    models = pd.DataFrame([_cost_record(line, "Answers") for line in section.models])
    judges = pd.DataFrame([{**_cost_record(line, "Judgments"),
                            "Tokens / 1k judgments": line.per_thousand(line.tokens),
                            "GPU-hours / 1k judgments": line.per_thousand(line.gpu_hours),
                            "USD / 1k judgments": line.per_thousand(line.money)} for line in section.judges])
    return CostTables(models=models.rename(columns={"Name": "Model"}),
                      judges=judges.rename(columns={"Name": "Judge"}),
                      total=total_text(section.total), nightly=nightly_text(section))
