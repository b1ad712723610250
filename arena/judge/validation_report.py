"""How well a judge agrees with human labels: the metrics of `arena judge validate`.

Every labelled pair is judged in both orders: "ab" shows the pair's response_a as Response A,
"ba" shows response_b as Response A. From the two verdicts:

- `agreement`: over pairs whose label is not a tie, the share of judgments (each order on its
  own) that pick the human-preferred response. This is the metric of the Prometheus 2 paper's
  pairwise tables, which judge each pair once in a random order; averaging both orders is its
  expectation over that draw. An invalid judgment counts as a disagreement, as in
  prometheus-eval's evaluation (its accuracy counts an unparsed verdict as wrong).
- `agreement_split_as_tie`: over all labelled pairs, ties included, the share whose both-orders
  outcome matches the label: a response picked in both orders wins, a split is a tie (the
  arena's own rule for battles), an invalid judgment in either order disagrees.
- `position_consistency`: over pairs with two valid judgments, the share whose two orders pick
  the same response.
- `first_position_share`: over valid judgments, the share that pick Response A (50% = no
  position bias).
- `invalid_share`: invalid judgments over all judgments (`invalid` counts them).

Each comes with a 95% percentile bootstrap interval that resamples pairs (a pair's two
judgments stay together), seeded, overall and per category. A pair with an order not judged yet
is left out and counted as pending.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arena.judge.validation_data import Label

BOOTSTRAP_ROUNDS = 1000
METRICS: tuple[tuple[str, str, str], ...] = (
    ("agreement", "agreement",
     "judgments picking the human-preferred response, non-tie pairs (Prometheus 2 paper's metric)"),
    ("agreement_split_as_tie", "split=tie",
     "pairs whose both-orders outcome (a split is a tie) matches the label, ties included"),
    ("position_consistency", "consistency", "pairs whose two orders pick the same response"),
    ("first_position_share", "first pos.", "valid judgments picking Response A (50% = no bias)"),
    ("invalid_share", "invalid", "judgments without a valid verdict"),
)


@dataclass(frozen=True)
class JudgedPair:
    id: str
    category: str
    label: Label
    verdict_ab: str | None  # "A", "B" or None (invalid): response_a shown as Response A
    verdict_ba: str | None  # response_b shown as Response A


@dataclass(frozen=True)
class Estimate:
    value: float | None  # None when nothing counts (an empty denominator)
    low: float | None
    high: float | None
    numerator: float
    denominator: int

    def text(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{100 * self.value:.1f}%"
        return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"


@dataclass(frozen=True)
class GroupReport:
    name: str  # "all", or a category
    pairs: int
    invalid: int
    agreement: Estimate
    agreement_split_as_tie: Estimate
    position_consistency: Estimate
    first_position_share: Estimate
    invalid_share: Estimate


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    judge: str
    judge_key: str
    pairs: int  # pairs with both orders judged
    pending: int  # pairs with an order not judged yet
    bootstrap_rounds: int
    seed: int
    overall: GroupReport
    categories: list[GroupReport]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def table(self) -> str:
        """The report as an aligned text table: one row per group, one column per metric."""
        header = ["group", "pairs", *[short for _, short, _ in METRICS]]
        rows = [header] + [[g.name, str(g.pairs), *[getattr(g, key).text() for key, _, _ in METRICS]]
                           for g in [self.overall, *self.categories]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        title = (f"judge {self.judge} (key {self.judge_key}) on {self.dataset}: {self.pairs} pairs judged "
                 f"in both orders" + (f", {self.pending} pending" if self.pending else "")
                 + f"; 95% bootstrap intervals ({self.bootstrap_rounds} rounds, seed {self.seed})")
        legend = [f"{short}: {meaning}" for _, short, meaning in METRICS]
        return "\n".join([title, "", *lines, "", *legend]) + "\n"


def _side(position: str, verdict: str | None) -> str | None:
    """Which response a verdict picks: "a" (the pair's response_a), "b", or None if invalid."""
    if verdict not in ("A", "B"):
        return None
    shown_first = "a" if position == "ab" else "b"
    return shown_first if verdict == "A" else ("b" if shown_first == "a" else "a")


def _counts(pairs: Sequence[JudgedPair]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, per pair: (numerator, denominator); a metric is sum(num) / sum(den)."""
    columns: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key, _, _ in METRICS}

    def add(key: str, num: float, den: float) -> None:
        columns[key][0].append(num)
        columns[key][1].append(den)

    for pair in pairs:
        first, second = _side("ab", pair.verdict_ab), _side("ba", pair.verdict_ba)
        preferred = pair.label.lower() if pair.label != "tie" else None
        valid = [v for v in (pair.verdict_ab, pair.verdict_ba) if v in ("A", "B")]
        if preferred is not None:
            add("agreement", (first == preferred) + (second == preferred), 2)
        else:
            add("agreement", 0, 0)
        both_valid = first is not None and second is not None
        outcome = (first if first == second else "tie") if both_valid else None
        add("agreement_split_as_tie", float(outcome is not None and outcome == (preferred or "tie")), 1)
        add("position_consistency", float(both_valid and first == second), float(both_valid))
        add("first_position_share", valid.count("A"), len(valid))
        add("invalid_share", 2 - len(valid), 2)
    return {key: (np.asarray(num, dtype=float), np.asarray(den, dtype=float)) for key, (num, den) in columns.items()}


def _estimate(num: np.ndarray, den: np.ndarray, draws: np.ndarray | None) -> Estimate:
    total = float(den.sum())
    if total == 0:
        return Estimate(None, None, None, float(num.sum()), 0)
    value = float(num.sum()) / total
    low = high = None
    if draws is not None:
        num_b, den_b = num[draws].sum(axis=1), den[draws].sum(axis=1)
        ratios = np.divide(num_b, den_b, out=np.full(len(draws), np.nan), where=den_b > 0)
        if np.isfinite(ratios).any():
            low, high = (float(x) for x in np.nanpercentile(ratios, [2.5, 97.5]))
    return Estimate(value, low, high, float(num.sum()), int(total))


def group_report(name: str, pairs: Sequence[JudgedPair], rounds: int, seed: int) -> GroupReport:
    counts = _counts(pairs)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(pairs), size=(rounds, len(pairs))) if rounds > 0 and pairs else None
    estimates = {key: _estimate(*counts[key], draws) for key, _, _ in METRICS}
    invalid = int(counts["invalid_share"][0].sum())
    return GroupReport(name=name, pairs=len(pairs), invalid=invalid, **estimates)


def build_report(dataset: str, judge: str, judge_key: str, pairs: Sequence[JudgedPair], pending: int = 0,
                 rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> ValidationReport:
    """The metrics overall and per category (categories sorted, an empty category is left out)."""
    categories = sorted({p.category for p in pairs if p.category})
    return ValidationReport(
        dataset=dataset, judge=judge, judge_key=judge_key, pairs=len(pairs), pending=pending,
        bootstrap_rounds=rounds, seed=seed, overall=group_report("all", pairs, rounds, seed),
        categories=[group_report(c, [p for p in pairs if p.category == c], rounds, seed) for c in categories],
    )
