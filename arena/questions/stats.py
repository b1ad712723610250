"""`arena questions stats`: counts by category, audience, kind and safety flag, and text lengths."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from arena.questions.loading import load_questions
from arena.questions.schema import Question


@dataclass(frozen=True)
class LengthSummary:
    min: int
    median: float
    p90: int
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> LengthSummary:
        ordered = sorted(values)
        nearest_rank_90 = ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]
        return cls(ordered[0], float(statistics.median(ordered)), nearest_rank_90, ordered[-1])


@dataclass(frozen=True)
class QuestionStats:
    total: int
    files: int
    by_category: dict[str, int]
    by_audience: dict[str, int]
    by_kind: dict[str, int]
    by_safety: dict[str, int]
    chars: LengthSummary | None
    words: LengthSummary | None

    def as_dict(self) -> dict:
        def lengths(summary: LengthSummary | None) -> dict | None:
            return None if summary is None else summary.__dict__.copy()

        return {
            "total": self.total, "files": self.files, "by_category": self.by_category,
            "by_audience": self.by_audience, "by_kind": self.by_kind, "by_safety": self.by_safety,
            "chars": lengths(self.chars), "words": lengths(self.words),
        }


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def question_stats(questions: Sequence[Question], files: int = 1) -> QuestionStats:
    chars = [len(q.text) for q in questions]
    words = [len(q.text.split()) for q in questions]
    safety = Counter("safety-critical" if q.safety_critical else "routine" for q in questions)
    return QuestionStats(
        total=len(questions),
        files=files,
        by_category=_ranked(Counter(q.category for q in questions)),
        by_audience=_ranked(Counter(q.audience for q in questions)),
        by_kind=_ranked(Counter(q.kind for q in questions)),
        by_safety=_ranked(safety),
        chars=LengthSummary.of(chars) if questions else None,
        words=LengthSummary.of(words) if questions else None,
    )


def stats_for_files(paths: Sequence[Path]) -> QuestionStats:
    """Statistics of valid question files (a malformed file raises DataError naming the line)."""
    return question_stats(load_questions(paths), files=len(paths))


def _count_table(title: str, counts: dict[str, int], total: int) -> list[str]:
    width = max([len(title), *(len(name) for name in counts)])
    lines = [f"{title:<{width}}  {'count':>6}  {'share':>6}"]
    for name, count in counts.items():
        lines.append(f"{name:<{width}}  {count:>6}  {count / total:>6.1%}")
    return lines


def format_stats(stats: QuestionStats) -> str:
    """Plain-text tables of a QuestionStats, for the terminal."""
    lines = [f"questions: {stats.total} in {stats.files} file(s)"]
    if not stats.total:
        return lines[0]
    for title, counts in (("category", stats.by_category), ("audience", stats.by_audience),
                          ("kind", stats.by_kind), ("safety", stats.by_safety)):
        lines += ["", *_count_table(title, counts, stats.total)]
    lines += ["", f"{'length':<6}  {'min':>6}  {'median':>7}  {'p90':>6}  {'max':>6}"]
    for name, summary in (("chars", stats.chars), ("words", stats.words)):
        assert summary is not None
        lines.append(f"{name:<6}  {summary.min:>6}  {summary.median:>7g}  {summary.p90:>6}  {summary.max:>6}")
    return "\n".join(lines)
