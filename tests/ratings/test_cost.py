"""The cost ledger's sums (`ratings/cost.py`) on runs written by hand, and the report's cost section."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest

from arena.ratings.cost import CostSection, cost_section
from arena.ratings.render import render
from arena.ratings.render_cost import session_line
from arena.ratings.report import RatingReport
from arena.store.ledger import RunRow
from tests.ratings.test_report import report_of, synthetic

WHEN = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def run(kind: str, name: str, *, gpus: int, wall_s: float, items: int, prompt: int, completion: int,
        price: tuple[float, float] | None = None, session: str | None = None) -> RunRow:
    return RunRow(id=0, kind=kind, name=name, judge_key="key" if kind == "judge" else None, backend="vllm",
                  gpus=gpus, session=session, started_at=WHEN, finished=True, wall_s=wall_s, items=items,
                  prompt_tokens=prompt, completion_tokens=completion,
                  price_prompt=price[0] if price else None, price_completion=price[1] if price else None)


RUNS = [
    # model "big": two runs on 4 GPUs, 1 h and 30 min: 6 GPU-hours
    run("generate", "big", gpus=4, wall_s=3600, items=1000, prompt=200_000, completion=500_000),
    run("generate", "big", gpus=4, wall_s=1800, items=500, prompt=100_000, completion=250_000, session="n1"),
    # model "api": priced at 1 and 4 USD per million tokens, no GPUs
    run("generate", "api", gpus=0, wall_s=600, items=1500, prompt=300_000, completion=750_000, price=(1.0, 4.0),
        session="n1"),
    # judge: 2 GPUs for 2 h = 4 GPU-hours, 4,000 judgments, priced at 0.5 / 2 USD
    run("judge", "prometheus", gpus=2, wall_s=7200, items=4000, prompt=8_000_000, completion=1_000_000,
        price=(0.5, 2.0), session="n1"),
]


def test_sums_per_model_per_judge_per_thousand_judgments_by_hand() -> None:
    section = cost_section(RUNS, "n1")
    assert section is not None
    assert [(x.kind, x.name) for x in section.lines] == [("model", "api"), ("model", "big"), ("judge", "prometheus")]
    big = section.model("big")
    assert big is not None
    assert (big.runs, big.items, big.prompt_tokens, big.completion_tokens) == (2, 1500, 300_000, 750_000)
    assert big.gpu_hours == pytest.approx(6.0) and big.wall_hours == pytest.approx(1.5)
    assert big.money is None  # never priced: no money rather than zero
    api = section.model("api")
    assert api is not None and api.gpu_hours == 0.0
    assert api.money == pytest.approx(0.3 * 1.0 + 0.75 * 4.0)  # 3.30 USD
    (judge,) = section.judges
    assert judge.gpu_hours == pytest.approx(4.0)
    assert judge.money == pytest.approx(8 * 0.5 + 1 * 2.0)  # 6 USD
    assert judge.per_thousand(judge.money) == pytest.approx(1.5)  # 6 USD / 4,000 judgments x 1,000
    assert judge.per_thousand(judge.gpu_hours) == pytest.approx(1.0)
    assert judge.per_thousand(judge.tokens) == pytest.approx(2_250_000)
    total = section.total
    assert total.gpu_hours == pytest.approx(10.0) and total.money == pytest.approx(9.3)
    nightly = section.nightly_total
    assert section.last_nightly == "n1" and nightly is not None
    assert nightly.gpu_hours == pytest.approx(2.0 + 4.0) and nightly.money == pytest.approx(9.3)
    assert nightly.prompt_tokens == 100_000 + 300_000 + 8_000_000


def test_no_runs_no_section_and_a_nightly_without_runs_is_none() -> None:
    assert cost_section([], None) is None
    section = cost_section(RUNS[:1], "n1")
    assert section is not None and section.last_nightly is None and section.nightly_total is None
    assert session_line(None) == "nothing generated or judged: no cost"


def test_the_report_carries_the_cost_section_through_json_and_every_format() -> None:
    section = cost_section(RUNS, "n1")
    report = replace(report_of(synthetic(400), rounds=10), cost=section)
    again = RatingReport.from_json(json.loads(json.dumps(report.to_json(), allow_nan=False)))
    assert again.cost == section and again.to_json() == report.to_json()
    assert CostSection.from_json(section.to_json()) == section  # type: ignore[union-attr]
    table = render(report, "table")
    assert "Cost ledger" in table
    assert "prometheus" in table and "1.50" in table  # USD per 1,000 judgments
    assert "total: 8,600,000 prompt + 2,500,000 completion tokens, 10.00 GPU-hours, USD 9.30" in table
    assert "last nightly run n1: 2000 answers, 4000 judgments" in table
    markdown = render(report, "markdown")
    assert "| api | 1 | 1,500 | 300,000 | 750,000 | 0.0000 | 3.30 |" in markdown
    assert json.loads(render(report, "json"))["cost"]["total"]["money_usd"] == pytest.approx(9.3)
    csv_text = render(report, "csv")
    assert "answer_gpu_hours" in csv_text.splitlines()[0]
    plain = render(replace(report, cost=None), "table")
    assert "no generate or judge run recorded yet" in plain
