"""The rating report as text: an aligned table with its sections, CSV, JSON or Markdown.

Every format says how the intervals were made (question- or battle-level bootstrap) and carries
each model's flags (few battles, no losses or wins, not comparable) and comparison-graph group,
and the cost ledger (`render_cost.py`): sections of the table and Markdown, the JSON's `cost`,
the CSV's per-model answer-cost columns.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

from arena.ratings.bt import PRIOR_SD_ELO
from arena.ratings.compare import HeadToHead
from arena.ratings.render_cost import (
    CSV_COST_COLUMNS,
    csv_cost_cells,
    markdown_sections,
    table_sections,
)
from arena.ratings.report import Board, ModelRow, RatingReport
from arena.ratings.style import COVARIATE_LABELS
from arena.safe_text import csv_row, markdown_text

FORMATS = ("table", "csv", "json", "markdown")
CSV_COLUMNS = (
    "rank", "rank_ci_low", "rank_ci_high", "model", "rating", "ci_low", "ci_high", "battles", "win_rate",
    "online_elo", "rating_sc", "ci_low_sc", "ci_high_sc", "flags", "group", "ci_method",
)


def render(report: RatingReport, fmt: str, comparison: HeadToHead | None = None) -> str:
    if fmt == "table":
        return render_table(report, comparison)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        data = report.to_json()
        if comparison is not None:
            data["comparison"] = comparison.to_json()
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if fmt == "markdown":
        return render_markdown(report, comparison)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def interval_method(report: RatingReport) -> str:
    """How the 95% intervals were made, in words."""
    params = report.params
    if params.bootstrap_rounds <= 0:
        return "no bootstrap (--bootstrap 0): intervals are the point estimates"
    level = "question-level (questions resampled with all their battles)" if params.bootstrap == "question" \
        else "battle-level (battles resampled one by one; understates uncertainty when questions repeat)"
    return f"{params.bootstrap_rounds} {level} bootstrap rounds, seed {params.seed}"


def ci_label(report: RatingReport) -> str:
    """The interval method in one token, for a CSV column."""
    return f"{report.params.bootstrap}-bootstrap-{report.params.bootstrap_rounds}"


def flags_text(row: ModelRow) -> str:
    parts = list(row.flags)
    if row.group > 1:
        parts.append(f"group {row.group}")
    return ", ".join(parts)


def _rank_range(row: ModelRow) -> str:
    return f"{row.rank_ci_low}" if row.rank_ci_low == row.rank_ci_high else f"{row.rank_ci_low}–{row.rank_ci_high}"


def _interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:.0f}, {high:.0f}]"


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _aligned(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if k in right else c.ljust(w)
                         for k, (c, w) in enumerate(zip(cells, widths, strict=False))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def leaderboard_lines(rows: tuple[ModelRow, ...], with_style: bool) -> list[str]:
    header = ["rank", "rank (95% CI)", "model", "rating", "95% CI", "battles", "win rate"]
    if with_style:
        header += ["style-controlled", "95% CI"]
    header.append("flags")
    body = []
    for r in rows:
        cells = [str(r.rank), _rank_range(r), markdown_text(r.model), _number(r.rating), _interval(r.ci_low, r.ci_high),
                 str(r.battles), f"{r.win_rate:.1%}"]
        if with_style:
            cells += [_number(r.rating_sc), _interval(r.ci_low_sc, r.ci_high_sc)]
        body.append(cells + [flags_text(r)])
    return _aligned(header, body, right={0, 3, 5, 6, 7} if with_style else {0, 3, 5, 6})


def _title(report: RatingReport) -> str:
    board = report.board
    title = (f"Bradley-Terry ratings (Elo scale), {board.n_battles} battles on {board.n_questions} questions, "
             f"source {report.source}")
    if report.category:
        title += f", {report.category}"
    return title


def _scale(report: RatingReport) -> str:
    anchor = report.params.anchor
    return f"{anchor.model} pinned at {anchor.rating:g}" if anchor else "mean rating 1000"


def render_table(report: RatingReport, comparison: HeadToHead | None = None) -> str:
    board = report.board
    with_style = board.style is not None and board.style.status == "ok"
    lines = [
        _title(report),
        f"95% CI: {interval_method(report)}; {_scale(report)}; weak prior: each rating N(mean, "
        f"{PRIOR_SD_ELO:g} Elo); rank = 1 + models whose lower bound is above this model's upper bound",
        "",
        *leaderboard_lines(board.rows, with_style),
        *_group_lines(board),
    ]
    lines += ["", *_style_section(board)]
    lines += ["", "Online Elo (K=4, battle order) — a second view; the leaderboard's number is Bradley-Terry",
              *_aligned(["model", "online Elo", "Bradley-Terry"],
                        [[r.model, _number(r.online_elo), _number(r.rating)]
                         for r in sorted(board.rows, key=lambda r: -(r.online_elo or 0.0))],
                        right={1, 2})]
    lines += ["", *_view_section(report.views)]
    lines += ["", *jury_lines(report)]
    lines += ["", *_diagnostic_lines(report)]
    lines += ["", *table_sections(report.cost, _aligned)]
    if comparison is not None:
        lines += ["", *comparison.lines()]
    notes = list(board.notes) + list(report.notes)
    if notes:
        lines += ["", *(f"note: {n}" for n in notes)]
    return "\n".join(_collapse_blank(lines)) + "\n"


def _group_lines(board: Board) -> list[str]:
    if not board.groups:
        return []
    lines = ["", f"NOT COMPARABLE: the battles form {len(board.groups)} groups with no battle between them:"]
    lines += [f"  group {k}: {', '.join(group)}" for k, group in enumerate(board.groups, start=1)]
    return lines


def _style_section(board: Board) -> list[str]:
    style = board.style
    if style is None:
        return []
    asked = ", ".join(COVARIATE_LABELS[c] for c in style.covariates) or "none"
    lines = [f"Style control ({asked})"]
    if style.status != "ok":
        return lines + [f"  {style.note}"]
    lines.append(f"  {style.n_battles} battles, {style.interval}"
                 + (f" ({style.clusters} clusters)" if style.clusters else ""))
    body = [[COVARIATE_LABELS[c.covariate], f"{c.coefficient:+.3f}", f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]",
             f"{c.elo:+.1f}", f"{c.sd:.3f}"] for c in style.coefficients]
    return lines + _aligned(["covariate", "log-odds per SD", "95% CI", "Elo per SD", "SD of difference"], body,
                            right={1, 3, 4})


def _view_section(views: tuple[Board, ...]) -> list[str]:
    if not views:
        return []
    lines = ["Per view: categories, audiences, safety-critical questions "
             "(top 3; full tables with --category or --format json)"]
    width = max(len(v.view or "") for v in views)
    for view in views:
        name = (view.view or "").ljust(width)
        if view.status != "ok":
            lines.append(f"  {name}  {view.n_battles} battles: too few to rate (needs {view.min_battles})")
            continue
        top = ", ".join(f"{r.model} {r.rating:.0f} {_interval(r.ci_low, r.ci_high)}"
                        + (f" ({flags_text(r)})" if flags_text(r) else "") for r in view.rows[:3])
        extra = f"; NOT COMPARABLE: {len(view.groups)} groups" if view.groups else ""
        lines.append(f"  {name}  {view.n_battles} battles: {top}{extra}")
    return lines


def jury_table(report: RatingReport) -> tuple[list[str], list[list[str]]]:
    """Each model's rating and 95% CI on the jury board and on each judge's board, side by side."""
    header = ["model", "jury", *(j.judge for j in report.judges)]
    body = []
    for row in report.board.rows:
        cells = [row.model, f"{row.rating:.0f} {_interval(row.ci_low, row.ci_high)}"]
        for judge in report.judges:
            own = judge.board.row(row.model)
            cells.append("–" if own is None else f"{own.rating:.0f} {_interval(own.ci_low, own.ci_high)}")
        body.append(cells)
    return header, body


def agreement_table(report: RatingReport) -> tuple[list[str], list[list[str]]]:
    """Cohen's kappa per pair of judges, with the shared battles and the raw agreement."""
    header = ["judges", "shared battles", "same outcome", "Cohen's kappa"]
    agreement = report.agreement
    body = [] if agreement is None else [
        [f"{p.judge_a} ~ {p.judge_b}", str(p.n), "–" if p.observed is None else f"{p.observed:.1%}",
         _number(p.kappa, 3)] for p in agreement.pairs]
    return header, body


def _alpha_text(report: RatingReport) -> str:
    agreement = report.agreement
    if agreement is None:
        return ""
    return (f"Krippendorff's alpha ({agreement.level}) of the jury: {_number(agreement.alpha, 3)} "
            f"on {agreement.n_alpha} battles judged by at least two judges")


def jury_lines(report: RatingReport) -> list[str]:
    if not report.is_jury or report.agreement is None:
        return []
    lines = [f"Jury of {len(report.judges)} judges: the leaderboard above is the jury board "
             f"({report.agreement.jury_battles} battles). Combined: {report.agreement.rule}",
             *_aligned(*jury_table(report), right=set()), "",
             "Agreement between judges (outcomes: first answer wins, tie, second wins)",
             *_aligned(*agreement_table(report), right={1, 2, 3}), f"  {_alpha_text(report)}"]
    for judge in report.judges:
        d = judge.diagnostics
        lines.append(f"  judge {judge.judge} (key {judge.judge_key}): {judge.board.n_battles} battles, "
                     f"{d.invalid_verdicts} of {d.judgments} judgments invalid")
    return lines


def _diagnostic_lines(report: RatingReport) -> list[str]:
    d = report.diagnostics
    if report.is_jury:
        return []  # each judge's own: in the jury section

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    correlation = d.length_win_correlation
    return [
        "Judge diagnostics",
        f"  first position chosen:      {share(d.first_position_share)} of valid verdicts (no bias: 50%)",
        f"  two orders disagree:        {share(d.order_disagreement)} of battles judged in both orders",
        f"  length-win correlation:     {'n/a' if correlation is None else f'{correlation:+.3f}'} (tokens)",
        f"  invalid verdicts:           {d.invalid_verdicts} of {d.judgments} judgments",
    ]


def _collapse_blank(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


def csv_record(row: ModelRow, report: RatingReport) -> dict[str, Any]:
    record = row.to_json()
    record["flags"] = ";".join(row.flags)
    record["ci_method"] = ci_label(report)
    record.update(csv_cost_cells(report.cost, row.model))
    return {k: ("" if record.get(k) is None else record.get(k)) for k in (*CSV_COLUMNS, *CSV_COST_COLUMNS)}


def render_csv(report: RatingReport) -> str:
    """The leaderboard, one row per model. A jury's: a first column `board` ("jury" or a judge's
    name) and the jury board's rows, then each judge's (its agreement is in the other formats)."""
    buffer = io.StringIO()
    columns = [*CSV_COLUMNS, *CSV_COST_COLUMNS]
    writer = csv.DictWriter(buffer, fieldnames=["board", *columns] if report.is_jury else columns,
                            lineterminator="\n")
    writer.writeheader()
    boards = [("jury", report.board), *((j.judge, j.board) for j in report.judges)]
    for name, board in boards if report.is_jury else boards[:1]:
        for row in board.rows:
            record = csv_record(row, report)
            writer.writerow(csv_row({"board": name, **record} if report.is_jury else record))
    return buffer.getvalue()


def render_markdown(report: RatingReport, comparison: HeadToHead | None = None) -> str:
    header = ["Rank", "Rank (95% CI)", "Model", "Rating", "95% CI", "Battles", "Win rate",
              "Style-controlled", "Online Elo (K=4)", "Flags"]
    lines = [f"{_title(report)}. 95% CI: {interval_method(report)}; {_scale(report)}.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in report.board.rows:
        numbers = [str(r.rank), _rank_range(r), _number(r.rating), _interval(r.ci_low, r.ci_high),
                   str(r.battles), f"{r.win_rate:.1%}", _number(r.rating_sc), _number(r.online_elo), flags_text(r)]
        cells = [c.replace("|", "\\|") for c in numbers]
        cells.insert(2, markdown_text(r.model))  # a name from outside: shown literally
        lines.append("| " + " | ".join(cells) + " |")
    if report.is_jury and report.agreement is not None:
        lines += ["", f"Jury of {len(report.judges)} judges: the table above is the jury board. "
                      f"Combined: {report.agreement.rule}.", ""]
        lines += _markdown_table(*jury_table(report))
        lines += ["", "Agreement between judges (outcomes: first answer wins, tie, second wins):", ""]
        lines += _markdown_table(*agreement_table(report))
        lines += ["", _alpha_text(report) + "."]
    extra = [f"> NOT COMPARABLE: group {k}: {', '.join(markdown_text(m) for m in g)}"
             for k, g in enumerate(report.board.groups, start=1)]
    if comparison is not None:
        shown = replace(comparison, model_a=markdown_text(comparison.model_a),
                        model_b=markdown_text(comparison.model_b))  # names from outside, literally
        extra += [f"> {line.strip()}" for line in shown.lines()]
    extra += [f"> note: {markdown_text(n)}" for n in (*report.board.notes, *report.notes)]
    cost = markdown_sections(report.cost)
    return "\n".join(lines + ([""] + extra if extra else []) + ([""] + cost if cost else [])) + "\n"


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    """A jury table: its header and first column are names from outside (a model, or two judges
    as "a ~ b"), shown literally."""
    def names_of(cell: str) -> str:
        return " ~ ".join(markdown_text(name) for name in cell.split(" ~ "))

    names = [markdown_text(h) for h in header]
    rows = [[names_of(cells[0]), *(c.replace("|", "\\|") for c in cells[1:])] for cells in body]
    return ["| " + " | ".join(names) + " |", "|" + "|".join(" --- " for _ in header) + "|",
            *("| " + " | ".join(cells) + " |" for cells in rows)]
