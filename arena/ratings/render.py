"""The rating payload as text: an aligned table with its sections, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")
CSV_COLUMNS = (
    "rank", "rank_ci_low", "rank_ci_high", "model", "rating", "ci_low", "ci_high", "battles", "win_rate",
    "online_elo", "rating_lc", "ci_low_lc", "ci_high_lc",
)


def render(payload: dict[str, Any], fmt: str) -> str:
    if fmt == "table":
        return render_table(payload)
    if fmt == "csv":
        return render_csv(payload)
    if fmt == "json":
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return render_markdown(payload)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _rank_range(row: dict[str, Any]) -> str:
    low, high = row["rank_ci_low"], row["rank_ci_high"]
    return f"{low}" if low == high else f"{low}–{high}"


def _interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:.0f}, {high:.0f}]"


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _aligned(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def leaderboard_lines(rows: list[dict[str, Any]]) -> list[str]:
    header = ["rank", "rank (95% CI)", "model", "rating", "95% CI", "battles", "win rate"]
    body = [
        [str(r["rank"]), _rank_range(r), r["model"], _number(r["rating"]), _interval(r["ci_low"], r["ci_high"]),
         str(r["battles"]), f"{r['win_rate']:.1%}"]
        for r in rows
    ]
    return _aligned(header, body, right={0, 3, 5, 6})


def render_table(payload: dict[str, Any]) -> str:
    rows = payload["leaderboard"]
    title = f"Bradley-Terry ratings (Elo scale), {payload['n_battles']} battles, source {payload['source']}"
    if payload.get("category"):
        title += f", category {payload['category']}"
    anchor = payload.get("anchor")
    scale = f"{anchor['model']} pinned at {anchor['rating']:g}" if anchor else "mean rating 1000"
    lines = [
        title,
        f"95% CI: {payload['bootstrap_rounds']} bootstrap rounds (seed {payload['seed']}); {scale}; "
        "rank = 1 + models whose lower bound is above this model's upper bound",
        "",
        *leaderboard_lines(rows),
    ]
    lines += ["", *_length_section(payload)]
    lines += ["", "Online Elo (K=4, battle order) — a second view; the leaderboard's number is Bradley-Terry",
              *_aligned(["model", "online Elo", "Bradley-Terry"],
                        [[r["model"], _number(r.get("online_elo")), _number(r["rating"])]
                         for r in sorted(rows, key=lambda r: -(r.get("online_elo") or 0.0))],
                        right={1, 2})]
    lines += ["", *_category_section(payload.get("categories") or {})]
    lines += ["", *_diagnostic_lines(payload.get("diagnostics") or {})]
    notes = payload.get("notes") or []
    if notes:
        lines += ["", *(f"note: {n}" for n in notes)]
    return "\n".join(line for line in _collapse_blank(lines)) + "\n"


def _length_section(payload: dict[str, Any]) -> list[str]:
    lc = payload.get("length_control") or {}
    lines = ["Length-controlled ratings (answer length as a covariate)"]
    if lc.get("coefficient") is None:
        return lines + [f"  {lc.get('note', 'not available')}"]
    low, high = lc["coefficient_ci"]
    lines.append(
        f"length coefficient {lc['coefficient']:+.3f} log-odds per rms of normalised length difference "
        f"(95% CI [{low:+.3f}, {high:+.3f}]; {lc['coefficient_elo']:+.1f} Elo), {lc['n_battles']} battles"
    )
    body = [
        [r["model"], _number(r["rating"]), _number(r.get("rating_lc")), _interval(r.get("ci_low_lc"), r.get("ci_high_lc")),
         _number(None if r.get("rating_lc") is None else r["rating_lc"] - r["rating"], 0)]
        for r in payload["leaderboard"]
    ]
    return lines + _aligned(["model", "rating", "length-controlled", "95% CI", "change"], body, right={1, 2, 4})


def _category_section(categories: dict[str, Any]) -> list[str]:
    if not categories:
        return []
    lines = ["Per category (top 3; full tables with --category or --format json)"]
    width = max(len(name) for name in categories)
    for name, entry in categories.items():
        if entry["status"] != "ok":
            lines.append(f"  {name.ljust(width)}  {entry['n_battles']} battles: too few to rate "
                         f"(needs {entry.get('min_battles', '?')})")
            continue
        top = ", ".join(f"{r['model']} {r['rating']:.0f} {_interval(r['ci_low'], r['ci_high'])}"
                        for r in entry["leaderboard"][:3])
        lines.append(f"  {name.ljust(width)}  {entry['n_battles']} battles: {top}")
    return lines


def _diagnostic_lines(diagnostics: dict[str, Any]) -> list[str]:
    def share(key: str) -> str:
        value = diagnostics.get(key)
        return "n/a" if value is None else f"{value:.1%}"

    correlation = diagnostics.get("length_win_correlation")
    return [
        "Judge diagnostics",
        f"  first position chosen:      {share('first_position_share')} of valid verdicts (no bias: 50%)",
        f"  two orders disagree:        {share('order_disagreement')} of battles judged in both orders",
        f"  length-win correlation:     {'n/a' if correlation is None else f'{correlation:+.3f}'}",
        f"  invalid verdicts:           {diagnostics.get('invalid_verdicts', 0)} of {diagnostics.get('judgments', 0)} judgments",
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


def render_csv(payload: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in payload["leaderboard"]:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return buffer.getvalue()


def render_markdown(payload: dict[str, Any]) -> str:
    header = ["Rank", "Rank (95% CI)", "Model", "Rating", "95% CI", "Battles", "Win rate",
              "Length-controlled", "Online Elo (K=4)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in payload["leaderboard"]:
        cells = [str(r["rank"]), _rank_range(r), r["model"], _number(r["rating"]), _interval(r["ci_low"], r["ci_high"]),
                 str(r["battles"]), f"{r['win_rate']:.1%}", _number(r.get("rating_lc")), _number(r.get("online_elo"))]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = [f"> note: {n}" for n in payload.get("notes") or []]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
