"""Benchmark: judge workers on one PostgreSQL store, and SQLite against PostgreSQL.

1. Judgments stored per second with 1, 2 and 4 `arena judge` worker processes on one PostgreSQL
   store, against the scripted OpenAI-compatible judge with a fixed latency per request (each
   worker sends one request at a time), timed from the first to the last judgment stored
   (interpreter starts excluded) and end to end; the ratio to one worker is printed.
2. The single-process pipeline overhead on each store: `arena generate`, `arena judge` and
   `arena rate` in-process on the instant scripted backend (no latency: what is measured is the
   arena and the store), SQLite against PostgreSQL.

A throwaway PostgreSQL cluster is started (tests/postgres_cluster.py) and stopped at the end.

    python benchmarks/workers.py [--questions 20] [--latency 0.2] [--pipeline-questions 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the tests' helpers (cluster, fake server, project builder)
    sys.path.insert(0, str(REPO))

from arena.backends.scripted import ScriptedBackend  # noqa: E402
from arena.generate import GenerateRequest, run_generate  # noqa: E402
from arena.judge.run import run_judge  # noqa: E402
from arena.ratings.rate import RateRequest, run_rate  # noqa: E402
from arena.tinymodels import build_tiny_model  # noqa: E402
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script  # noqa: E402
from tests.judge.helpers import make_project, scripted_judge  # noqa: E402
from tests.judge.test_workers import board, finish, judging_span, workers  # noqa: E402
from tests.postgres_cluster import Cluster, start_cluster  # noqa: E402

CACHE = REPO / ".arena-cache"


def measure_workers(cluster: Cluster, root: Path, tokenizer: Path, questions: int, latency: float) -> None:
    print(f"judge workers on PostgreSQL: {questions * 12} judgments, {latency:.2f} s judge latency per request")
    base: float | None = None
    with ScriptedServer(prefer_longer_answer_script, delay_s=latency) as server:
        for n in (1, 2, 4):
            project = board(root / f"w{n}", server, cluster.url(cluster.new_database()), questions, tokenizer)
            started = time.monotonic()
            results = finish(workers(project, n))
            wall = time.monotonic() - started
            if any(code != 0 for code, _, _ in results):
                raise SystemExit(f"{n} workers failed: {[err[-300:] for _, _, err in results]}")
            span = judging_span(project)
            rate = len(project.judgments()) / span
            base = base or rate
            print(f"  {n} worker(s): {rate:6.1f} judgments/s stored ({span:5.1f} s judging, {wall:5.1f} s end to end),"
                  f" {rate / base:.2f}x one worker")


def pipeline(url: str, root: Path, questions: int) -> dict[str, float]:
    question_rows = [{"id": f"q{k}", "text": f"Health question {k}?", "category": "c"} for k in range(questions)]
    project = make_project(root, scripted_judge("http://127.0.0.1:9/v1"), models=("alpha", "beta", "gamma"),
                           questions=question_rows, extra={"storage": url})
    config = project.config()
    candidates = ScriptedBackend.factory(lambda request: f"an answer to {request.key} " + "detail " * 20)
    times = {}
    started = time.perf_counter()
    run_generate(config, GenerateRequest(), backend_factory=candidates, progress=False, out=open("/dev/null", "w"))  # noqa: SIM115
    times["generate"] = time.perf_counter() - started
    started = time.perf_counter()
    run_judge(config, backend=ScriptedBackend(prefer_longer_answer_script), progress=False)
    times["judge"] = time.perf_counter() - started
    started = time.perf_counter()
    run_rate(config, RateRequest(bootstrap_rounds=100))
    times["rate"] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20, help="questions of the worker board (12 judgments each)")
    parser.add_argument("--latency", type=float, default=0.2, help="the scripted judge's latency per request (s)")
    parser.add_argument("--pipeline-questions", type=int, default=200, help="questions of the pipeline comparison")
    args = parser.parse_args()
    tokenizer = build_tiny_model(CACHE / "tiny-mistral", "mistral")  # a local tokenizer.json for the judge
    cluster = start_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="arena-bench-workers-") as folder:
            root = Path(folder)
            measure_workers(cluster, root, tokenizer, args.questions, args.latency)
            print(f"single-process pipeline, 3 models x {args.pipeline_questions} questions, instant scripted backend:")
            sqlite = pipeline(f"sqlite:///{root / 'pipe.db'}", root / "sqlite", args.pipeline_questions)
            postgres = pipeline(cluster.url(cluster.new_database()), root / "postgres", args.pipeline_questions)
            for stage in sqlite:
                print(f"  {stage:8s} SQLite {sqlite[stage]:6.2f} s, PostgreSQL {postgres[stage]:6.2f} s,"
                      f" PostgreSQL / SQLite {postgres[stage] / sqlite[stage]:.2f}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
