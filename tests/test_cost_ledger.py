"""The cost ledger end to end: `arena generate`, `arena judge` and `arena rate` through the CLI
against scripted OpenAI-compatible servers (which report usage tokens: one per word).

Two candidates (one declares `gpus: 2`, one is priced) answer four questions; a priced judge
with `gpus: 1` compares them. Every answer and judgment keeps its tokens and seconds, each run
its GPUs and wall time, and `arena rate` shows the sums in every format, checked by hand here
against the rows themselves.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from arena.cli import app
from arena.config import load_config
from arena.store.engine import open_store
from arena.store.schema import answers, judgments, runs
from tests.fakes import project as fakes
from tests.fakes.project import openai_model
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.nightly.project import RUBRIC, question

runner = CliRunner()
N_QUESTIONS = 4
ALPHA_PRICE = {"prompt": 2.0, "completion": 10.0}  # USD per million tokens
JUDGE_PRICE = {"prompt": 3.0, "completion": 15.0}


def candidate_script(prompt: str) -> str:
    words = "Rest fluids and a doctor if it lasts more than three days".split()
    return " ".join(words[: 4 + len(prompt) % 7])


def write_project(root: Path, candidates: str, judge: str) -> Path:
    common = {"max_retries": 0, "timeout": 10, "sampling": {"max_tokens": 32, "seed": 1, "temperature": 0.0}}
    return fakes.write_project(
        root,
        models=[openai_model("alpha", candidates, **common, price_per_million_tokens=ALPHA_PRICE),
                openai_model("beta", candidates, **common, gpus=2)],
        questions=[question(n) for n in range(1, N_QUESTIONS + 1)],
        rubric=RUBRIC,
        judge=openai_model("scripted-judge", judge, max_retries=0, timeout=10, logprobs=False, gpus=1,
                           price_per_million_tokens=JUDGE_PRICE),
    )


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(config_path: Path, table: Any) -> list[Any]:
    store = open_store(load_config(config_path).storage_url)
    try:
        with store.connect() as connection:
            return list(connection.execute(select(table).order_by(table.c.id)))
    finally:
        store.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ledger")
    with ScriptedServer(candidate_script) as candidates, ScriptedServer(prefer_longer_answer_script) as judge:
        path = write_project(root, candidates.base_url, judge.base_url)
        invoke("generate", "-c", str(path))
        invoke("judge", "-c", str(path))
    return path


def test_every_answer_and_judgment_keeps_its_tokens_and_seconds(project: Path) -> None:
    stored = rows(project, answers)
    assert len(stored) == 2 * N_QUESTIONS
    for answer in stored:  # the server counts one token per word of the text it returned
        assert answer.completion_tokens == len(answer.text.split()) and answer.prompt_tokens > 0
        assert answer.latency_s is not None and answer.latency_s > 0
    judged = rows(project, judgments)
    assert len(judged) == 2 * N_QUESTIONS  # one pair per question, both orders
    for judgment in judged:
        assert judgment.completion_tokens == len(judgment.raw_output.split()) and judgment.prompt_tokens > 0
        assert judgment.latency_s is not None and judgment.latency_s > 0


def test_each_run_records_its_backend_gpus_wall_time_and_totals(project: Path) -> None:
    recorded = {run.name: run for run in rows(project, runs)}
    assert set(recorded) == {"alpha", "beta", "scripted-judge"}
    assert (recorded["alpha"].kind, recorded["alpha"].gpus) == ("generate", 0)  # an API server: 0 unless declared
    assert (recorded["beta"].kind, recorded["beta"].gpus) == ("generate", 2)
    assert (recorded["scripted-judge"].kind, recorded["scripted-judge"].gpus) == ("judge", 1)
    assert recorded["scripted-judge"].judge_key == rows(project, judgments)[0].judge_key
    for run in recorded.values():
        assert run.backend == "openai" and run.finished_at is not None and run.wall_s > 0
        assert run.session is None  # not a nightly run
    for name in ("alpha", "beta"):
        mine = [a for a in rows(project, answers) if a.model == name]
        assert recorded[name].items == len(mine) == N_QUESTIONS
        assert recorded[name].prompt_tokens == sum(a.prompt_tokens for a in mine)
        assert recorded[name].completion_tokens == sum(a.completion_tokens for a in mine)
    judged = rows(project, judgments)
    assert recorded["scripted-judge"].prompt_tokens == sum(j.prompt_tokens for j in judged)
    assert (recorded["alpha"].price_prompt, recorded["alpha"].price_completion) == (2.0, 10.0)
    assert recorded["beta"].price_prompt is None


def test_rate_json_sums_the_ledger_by_model_and_judge(project: Path) -> None:
    data = json.loads(invoke("rate", "-c", str(project), "--bootstrap", "0", "--format", "json"))
    lines = {line["name"]: line for line in data["cost"]["lines"]}
    recorded = {run.name: run for run in rows(project, runs)}
    alpha, beta, judge = lines["alpha"], lines["beta"], lines["scripted-judge"]
    assert (alpha["kind"], judge["kind"]) == ("model", "judge")
    assert alpha["items"] == N_QUESTIONS and judge["items"] == 2 * N_QUESTIONS
    # by hand: tokens at the entry's prices; GPU-hours = wall seconds x GPUs / 3600
    run = recorded["alpha"]
    assert alpha["money_usd"] == pytest.approx((run.prompt_tokens * 2.0 + run.completion_tokens * 10.0) / 1e6)
    assert alpha["gpu_hours"] == 0.0
    assert beta["money_usd"] is None  # not priced: no money, not zero
    assert beta["gpu_hours"] == pytest.approx(recorded["beta"].wall_s * 2 / 3600)
    run = recorded["scripted-judge"]
    judge_money = (run.prompt_tokens * 3.0 + run.completion_tokens * 15.0) / 1e6
    assert judge["money_usd"] == pytest.approx(judge_money)
    assert judge["gpu_hours"] == pytest.approx(run.wall_s / 3600)
    per_1000 = judge["per_1000_judgments"]
    assert per_1000["money_usd"] == pytest.approx(judge_money / (2 * N_QUESTIONS) * 1000)
    assert per_1000["tokens"] == pytest.approx((run.prompt_tokens + run.completion_tokens) / (2 * N_QUESTIONS) * 1000)
    total = data["cost"]["total"]
    assert total["money_usd"] == pytest.approx(alpha["money_usd"] + judge_money)
    assert total["prompt_tokens"] == sum(r.prompt_tokens for r in recorded.values())
    assert data["cost"]["last_nightly"] is None


def test_rate_table_markdown_and_csv_show_the_cost(project: Path) -> None:
    data = json.loads(invoke("rate", "-c", str(project), "--bootstrap", "0", "--format", "json"))
    alpha = next(line for line in data["cost"]["lines"] if line["name"] == "alpha")
    table = invoke("rate", "-c", str(project), "--bootstrap", "0")
    assert "Cost ledger" in table and "tokens / 1k judgments" in table
    alpha_row = next(line for line in table.splitlines() if line.startswith("alpha ") and "0.000" in line)
    assert f"{alpha['prompt_tokens']:,}" in alpha_row and f"{alpha['money_usd']:.4f}" in alpha_row
    assert "total: " in table
    markdown = invoke("rate", "-c", str(project), "--bootstrap", "0", "--format", "markdown")
    assert "**Cost ledger**" in markdown and "| scripted-judge |" in markdown
    exported = list(csv.DictReader(io.StringIO(invoke("rate", "-c", str(project), "--bootstrap", "0",
                                                      "--format", "csv"))))
    by_model = {row["model"]: row for row in exported}
    assert int(by_model["alpha"]["answer_prompt_tokens"]) == alpha["prompt_tokens"]
    assert float(by_model["alpha"]["answer_usd"]) == pytest.approx(alpha["money_usd"], abs=1e-6)
    assert by_model["beta"]["answer_usd"] == ""  # not priced
