"""Several `arena judge` workers on one store: each pair judged exactly once, a killed worker's
pairs taken over when its leases expire, and four workers about four times as fast as one when
the judge's latency (not CPU) is what takes the time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.judge.plan import JudgeRequest
from arena.judge.run import run_judge
from tests.fakes.project import openai_model, write_project
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.judge.helpers import Project, add_answers, make_project, scripted_judge

MODELS = ("alpha", "beta", "gamma", "delta")  # 6 pairs a question, 12 judgments
LATENCY_S = 0.4  # the judge's latency: on a busy 2-core machine each call also costs some CPU


def board(root: Path, server: ScriptedServer, storage: str, n_questions: int, tokenizer: Path | str) -> Project:
    """Answers of four models to `n_questions` questions; the judge counts tokens with a local
    tokenizer.json (a worker that imported transformers would spend its time starting up)."""
    questions = [{"id": f"q{k}", "text": f"Health question {k}?", "category": "c"} for k in range(n_questions)]
    project = make_project(root, scripted_judge(server.base_url, tokenizer=str(tokenizer)), models=MODELS,
                           questions=questions, extra={"storage": storage})
    add_answers(project, {(m, q["id"]): f"{m} answers {q['id']}: " + "detail " * (i + 1)
                          for i, m in enumerate(MODELS) for q in questions})
    return project


def workers(project: Project, n: int, *options: str) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "arena.cli", "judge", "-c", str(project.config_path), "--batch", "5", *options]
    return [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
            for _ in range(n)]


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append((process.returncode, out, err))
    return results


def assert_exactly_once(project: Project, n_questions: int) -> None:
    rows = project.judgments()
    keys = [(j["answer_a_id"], j["answer_b_id"]) for j in rows]
    assert len(keys) == len(set(keys)) == 12 * n_questions
    assert all(j["valid"] for j in rows)
    battles = project.battles()
    assert len(battles) == len({b["dedup_key"] for b in battles}) == 6 * n_questions
    assert {b["winner"] for b in battles} <= {"model_a", "model_b"}  # both orders agreed: no tie


def judging_span(project: Project) -> float:
    times = [j["created_at"] for j in project.judgments()]
    return (max(times) - min(times)).total_seconds()


def test_four_workers_judge_each_pair_once_and_four_times_faster(tmp_path: Path, postgres_url: str, tiny_judge_dir: Path) -> None:
    n_questions = 12  # 144 judgments, about 60 s of judge latency for one worker
    with ScriptedServer(prefer_longer_answer_script, delay_s=LATENCY_S) as server:
        single = board(tmp_path / "one", server, postgres_url, n_questions, tiny_judge_dir)
        started = time.monotonic()
        [(code, out, err)] = finish(workers(single, 1))
        one_s = time.monotonic() - started
        assert code == 0, err[-2000:]
        assert_exactly_once(single, n_questions)

        shared = board(tmp_path / "four", server, postgres_url.rsplit("/", 1)[0] + "/" + _new_database(postgres_url),
                       n_questions, tiny_judge_dir)
        started = time.monotonic()
        results = finish(workers(shared, 4))
        four_s = time.monotonic() - started
    # the judging itself, first to last judgment stored: interpreter starts are not the workers' speed
    one_span, four_span = judging_span(single), judging_span(shared)
    print(f"\njudging: 1 worker {one_span:.1f} s, 4 workers {four_span:.1f} s, speedup {one_span / four_span:.2f}x"
          f" (wall clock with process starts: {one_s:.1f} s and {four_s:.1f} s)")
    assert [code for code, _, _ in results] == [0, 0, 0, 0], [err[-1000:] for _, _, err in results]
    assert_exactly_once(shared, n_questions)
    judged = [int(out.split("battles: ")[1].split(" judged")[0]) for _, out, _ in results]
    assert sum(judged) == 6 * n_questions and min(judged) > 0, judged  # every worker did a share
    assert any("judged meanwhile by other workers" in out for _, out, _ in results)
    assert one_span / four_span >= 3.0, (one_span, four_span, one_s, four_s)


def _new_database(url: str) -> str:
    from sqlalchemy import create_engine, text

    base, _, name = url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}_b"))
    admin.dispose()
    return f"{name}_b"


def test_a_killed_worker_loses_nothing(tmp_path: Path, postgres_url: str, tiny_judge_dir: Path) -> None:
    n_questions = 8  # 96 judgments
    with ScriptedServer(prefer_longer_answer_script, delay_s=LATENCY_S) as server:
        project = board(tmp_path / "p", server, postgres_url, n_questions, tiny_judge_dir)
        processes = workers(project, 4, "--lease", "3")
        while len(project.judgments()) < 12:
            time.sleep(0.2)
        processes[0].send_signal(signal.SIGKILL)  # mid-run: it holds leased pairs, some half judged
        results = finish(processes[1:])
        processes[0].wait()
    assert [code for code, _, _ in results] == [0, 0, 0], [err[-1000:] for _, _, err in results]
    assert_exactly_once(project, n_questions)


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_two_judges_at_once_run_side_by_side(tmp_path: Path, storage: str, request: pytest.FixtureRequest,
                                           tiny_judge_dir: Path) -> None:
    # issue 15 item 4: the second of two `arena judge` died with an IntegrityError traceback
    url = request.getfixturevalue("postgres_url") if storage == "postgresql" else f"sqlite:///{tmp_path / 'a.db'}"
    n_questions = 4
    with ScriptedServer(prefer_longer_answer_script, delay_s=0.05) as server:
        project = board(tmp_path / "p", server, url, n_questions, tiny_judge_dir)
        results = finish(workers(project, 2))
    assert [code for code, _, _ in results] == [0, 0], [err[-1000:] for _, _, err in results]
    assert not any("Traceback" in err for _, _, err in results)
    assert_exactly_once(project, n_questions)


def test_a_pair_half_judged_by_a_dead_worker_is_finished_with_its_battle(tmp_path: Path, store_url: str, tiny_judge_dir: Path) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = board(tmp_path / "p", server, store_url, 1, tiny_judge_dir)
        first = run_judge(project.config(), JudgeRequest(max_judgments=1), progress=False)
        assert (first.judgments, first.judged) == (1, 0)  # one order of one pair, no battle yet
        rest = run_judge(project.config(), progress=False)
    assert rest.judgments == 11 and rest.judged == 6
    assert_exactly_once(project, 1)


def test_two_generate_workers_make_each_answer_once(tmp_path: Path, postgres_url: str) -> None:
    with ScriptedServer(lambda prompt: f"an answer to {prompt[-20:]}", delay_s=0.1) as server:
        config_path = write_project(
            tmp_path / "g", models=[openai_model(m, server.base_url, max_concurrency=1, max_retries=0)
                                    for m in ("alpha", "beta")],
            questions=[{"id": f"q{k}", "text": f"Health question {k}?", "category": "c"} for k in range(30)],
            storage=postgres_url)
        command = [sys.executable, "-m", "arena.cli", "generate", "-c", str(config_path), "--batch", "3"]
        results = finish([subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                          for _ in range(2)])
        calls = len(server.requests)
    assert [code for code, _, _ in results] == [0, 0], [err[-1000:] for _, _, err in results]
    assert calls == 60  # each answer made once, by one worker or the other
    assert any("made meanwhile by other workers" in out for _, out, _ in results)
    from sqlalchemy import func, select

    from arena.store.engine import open_store
    from arena.store.schema import answers

    store = open_store(postgres_url, create=False)
    with store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(answers)).scalar_one() == 60
    store.close()
