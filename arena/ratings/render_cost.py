"""The cost ledger as text: the table and Markdown sections of `arena rate`, its CSV columns,
and the one line the nightly summary prints. What the numbers mean is `ratings/cost.py`'s."""

from __future__ import annotations

from collections.abc import Callable

from arena.ratings.cost import CostLine, CostSection

Aligner = Callable[[list[str], list[list[str]], set[int]], list[str]]  # render's column aligner

# the leaderboard CSV's per-model columns: what generating the model's answers cost
CSV_COST_COLUMNS = ("answers_stored", "answer_prompt_tokens", "answer_completion_tokens", "answer_gpu_hours",
                    "answer_usd")
BASIS = ("GPU-hours = wall time of each run (loading included) x GPUs it held; "
         "USD = tokens x the entry's price per million tokens")


def money(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def hours(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}" if value >= 1 else f"{value:.4f}"


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def model_cells(line: CostLine) -> list[str]:
    return [line.name, str(line.runs), count(line.items), count(line.prompt_tokens), count(line.completion_tokens),
            hours(line.gpu_hours), money(line.money)]


def judge_cells(line: CostLine) -> list[str]:
    return model_cells(line) + [count(line.per_thousand(line.tokens)), hours(line.per_thousand(line.gpu_hours)),
                                money(line.per_thousand(line.money))]


MODEL_HEADER = ["model", "runs", "answers", "prompt tokens", "completion tokens", "GPU-hours", "USD"]
JUDGE_HEADER = ["judge", "runs", "judgments", "prompt tokens", "completion tokens", "GPU-hours", "USD",
                "tokens / 1k judgments", "GPU-hours / 1k", "USD / 1k"]


def total_text(line: CostLine) -> str:
    """One line: tokens, GPU-hours and money of a total."""
    return (f"{count(line.prompt_tokens)} prompt + {count(line.completion_tokens)} completion tokens, "
            f"{hours(line.gpu_hours)} GPU-hours, USD {money(line.money)}")


def nightly_text(section: CostSection) -> str | None:
    total = section.nightly_total
    if total is None:
        return None
    answers = sum(line.items for line in section.nightly_lines if line.kind == "model")
    judgments = sum(line.items for line in section.nightly_lines if line.kind == "judge")
    return f"last nightly run {section.last_nightly}: {answers} answers, {judgments} judgments: {total_text(total)}"


def session_line(total: CostLine | None) -> str:
    """The nightly summary's cost line for its own run."""
    if total is None:
        return "nothing generated or judged: no cost"
    return total_text(total)


def table_sections(section: CostSection | None, align: Aligner) -> list[str]:
    """The text table's cost section; `align` lays out (header, rows, right-aligned columns)."""
    if section is None:
        return ["Cost ledger: no generate or judge run recorded yet"]
    lines = [f"Cost ledger (all recorded runs; {BASIS})"]
    if section.models:
        lines += align(MODEL_HEADER, [model_cells(x) for x in section.models], set(range(1, 7)))
    if section.judges:
        lines += ["", *align(JUDGE_HEADER, [judge_cells(x) for x in section.judges], set(range(1, 10)))]
    lines += ["", f"total: {total_text(section.total)}"]
    nightly = nightly_text(section)
    if nightly:
        lines.append(nightly)
    return lines


def markdown_sections(section: CostSection | None) -> list[str]:
    if section is None:
        return []
    lines = [f"**Cost ledger** ({BASIS}).", ""]
    for header, rows in ((MODEL_HEADER, [model_cells(x) for x in section.models]),
                         (JUDGE_HEADER, [judge_cells(x) for x in section.judges])):
        if rows:
            lines += ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    lines.append(f"Total: {total_text(section.total)}.")
    nightly = nightly_text(section)
    if nightly:
        lines.append(f"{nightly[0].upper()}{nightly[1:]}.")
    return lines


def csv_cost_cells(section: CostSection | None, model: str) -> dict[str, object]:
    """A leaderboard row's cost columns (empty when the ledger has nothing for the model)."""
    line = section.model(model) if section is not None else None
    if line is None:
        return dict.fromkeys(CSV_COST_COLUMNS, "")
    return {"answers_stored": line.items, "answer_prompt_tokens": line.prompt_tokens,
            "answer_completion_tokens": line.completion_tokens, "answer_gpu_hours": round(line.gpu_hours, 6),
            "answer_usd": "" if line.money is None else round(line.money, 6)}
