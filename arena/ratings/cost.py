"""What a board cost to make: tokens, GPU-hours and money per model, per judge, per 1,000 judgments.

Read from the cost ledger's runs (`store/ledger`), one per model per `arena generate` and per
judge per `arena judge`. The rules (README, "What a board cost"):

- GPU-hours of a run are its wall time (asking for the backend to releasing it, loading
  included) times the GPUs it held; a model's or a judge's are the sum over its runs. Everything
  the lab paid for counts: answers later replaced, judgments retried, runs that were killed (up
  to their last update).
- Money is tokens times the entry's price per million tokens as it was when the run started
  (US dollars); runs of unpriced entries add none, and a line none of whose runs was priced has
  no money (None), not zero.
- Per 1,000 judgments: a judge's totals divided by the judgments its runs stored, times 1,000.
- The last nightly run: the runs whose session is the newest nightly run id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arena.store.engine import Store
from arena.store.ledger import RunRow, last_session, load_runs

SECONDS_PER_HOUR = 3600.0
TOKENS_PER_PRICE = 1_000_000  # prices are per million tokens
PER_JUDGMENTS = 1000  # judges' costs are also shown per this many judgments
KIND_OF_RUN = {"generate": "model", "judge": "judge"}  # runs.kind -> CostLine.kind


@dataclass(frozen=True)
class CostLine:
    """One model's answers (kind "model") or one judge's judgments (kind "judge")."""

    kind: str
    name: str
    runs: int
    items: int  # answers or judgments stored
    prompt_tokens: int
    completion_tokens: int
    wall_hours: float
    gpu_hours: float
    money: float | None  # USD; None: no run of it was priced

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def per_thousand(self, value: float | None) -> float | None:
        """`value` per 1,000 items (judgments, for a judge); None without items or value."""
        if value is None or self.items == 0:
            return None
        return value / self.items * PER_JUDGMENTS

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "name": self.name, "runs": self.runs, "items": self.items,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "wall_hours": self.wall_hours, "gpu_hours": self.gpu_hours, "money_usd": self.money,
        }
        if self.kind == "judge":
            data["per_1000_judgments"] = {"tokens": self.per_thousand(self.tokens),
                                          "gpu_hours": self.per_thousand(self.gpu_hours),
                                          "money_usd": self.per_thousand(self.money)}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostLine:
        return cls(kind=data["kind"], name=data["name"], runs=int(data["runs"]), items=int(data["items"]),
                   prompt_tokens=int(data["prompt_tokens"]), completion_tokens=int(data["completion_tokens"]),
                   wall_hours=float(data["wall_hours"]), gpu_hours=float(data["gpu_hours"]),
                   money=None if data.get("money_usd") is None else float(data["money_usd"]))


@dataclass(frozen=True)
class CostSection:
    """The whole ledger, and the last nightly run's share of it."""

    lines: tuple[CostLine, ...]  # models first, then judges, each by name
    last_nightly: str | None  # the newest nightly run id with runs (None: none)
    nightly_lines: tuple[CostLine, ...]  # that nightly run's lines

    @property
    def models(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.kind == "model")

    @property
    def judges(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.kind == "judge")

    def model(self, name: str) -> CostLine | None:
        return next((line for line in self.models if line.name == name), None)

    @property
    def total(self) -> CostLine:
        return combined("total", "all", self.lines)

    @property
    def nightly_total(self) -> CostLine | None:
        return combined("total", self.last_nightly or "", self.nightly_lines) if self.last_nightly else None

    def to_json(self) -> dict[str, Any]:
        return {"lines": [line.to_json() for line in self.lines], "total": self.total.to_json(),
                "last_nightly": self.last_nightly,
                "nightly_lines": [line.to_json() for line in self.nightly_lines],
                "basis": "GPU-hours = wall time of each run x GPUs it held; USD = tokens x the entry's "
                         "price per million tokens when the run started"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostSection:
        return cls(lines=tuple(CostLine.from_json(line) for line in data["lines"]),
                   last_nightly=data.get("last_nightly"),
                   nightly_lines=tuple(CostLine.from_json(line) for line in data["nightly_lines"]))


def run_money(run: RunRow) -> float | None:
    """A run's tokens at its prices (None when it was not priced)."""
    if run.price_prompt is None and run.price_completion is None:
        return None
    return (run.prompt_tokens * (run.price_prompt or 0.0)
            + run.completion_tokens * (run.price_completion or 0.0)) / TOKENS_PER_PRICE


def _sum_money(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def cost_lines(runs: Sequence[RunRow]) -> tuple[CostLine, ...]:
    """One line per (kind, name) of the runs: models first, then judges, each by name."""
    groups: dict[tuple[str, str], list[RunRow]] = {}
    for run in runs:
        groups.setdefault((KIND_OF_RUN.get(run.kind, run.kind), run.name), []).append(run)
    order = {"model": 0, "judge": 1}
    return tuple(
        CostLine(kind=kind, name=name, runs=len(group), items=sum(r.items for r in group),
                 prompt_tokens=sum(r.prompt_tokens for r in group),
                 completion_tokens=sum(r.completion_tokens for r in group),
                 wall_hours=sum(r.wall_s for r in group) / SECONDS_PER_HOUR,
                 gpu_hours=sum(r.wall_s * r.gpus for r in group) / SECONDS_PER_HOUR,
                 money=_sum_money(run_money(r) for r in group))
        for (kind, name), group in sorted(groups.items(), key=lambda item: (order.get(item[0][0], 2), item[0][1])))


def combined(kind: str, name: str, lines: Sequence[CostLine]) -> CostLine:
    """The sum of some lines (its `items` mixes answers and judgments)."""
    return CostLine(kind=kind, name=name, runs=sum(x.runs for x in lines), items=sum(x.items for x in lines),
                    prompt_tokens=sum(x.prompt_tokens for x in lines),
                    completion_tokens=sum(x.completion_tokens for x in lines),
                    wall_hours=sum(x.wall_hours for x in lines), gpu_hours=sum(x.gpu_hours for x in lines),
                    money=_sum_money(x.money for x in lines))


def cost_section(runs: Sequence[RunRow], session: str | None) -> CostSection | None:
    """The ledger of these runs, with `session`'s share as the last nightly run; None without runs."""
    if not runs:
        return None
    nightly = [run for run in runs if session is not None and run.session == session]
    return CostSection(lines=cost_lines(runs), last_nightly=session if nightly else None,
                       nightly_lines=cost_lines(nightly))


def read_cost(store: Store) -> CostSection | None:
    """The store's whole cost ledger (None: no run recorded yet)."""
    return cost_section(load_runs(store), last_session(store))


def read_session_cost(store: Store, session: str) -> CostLine | None:
    """One nightly run's total (None: it recorded no runs)."""
    lines = cost_lines(load_runs(store, session))
    return combined("total", session, lines) if lines else None
