"""The real SmolLM2-135M-Instruct through the CLI: OpenVINO, transformers on a GGUF, and llama.cpp.

Unlike the tiny random-weight models, a real instruct model answers in English, about the
question, and ends its turn with <|im_end|> when its ChatML template was applied. These tests
check exactly that in what `arena generate` stored, and that a judge served by llama.cpp gives
only valid verdicts under its grammar (`arena judge`), then `arena rate` ranks the candidates.
A 135M model is neither a good doctor nor a good judge: nothing here grades quality.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.judge.verdict import verdict_regex
from tests.fakes import project as fakes

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PROMPT = "You are a careful medical assistant. Answer briefly."
# each question with a word a real answer to it uses
QUESTIONS = [
    ("q-asthma", "What is asthma and how is it treated?", "asthma", "pulmonology"),
    ("q-stroke", "What are the warning signs of a stroke?", "stroke", "neurology"),
    ("q-diabetes", "What is type 2 diabetes?", "diabetes", "endocrinology"),
]
COMMON_WORDS = {"the", "a", "an", "is", "are", "of", "and", "to", "in", "it", "can", "or", "that", "by", "with",
                "as", "your", "you", "be", "for", "when", "which", "this", "on", "may", "such", "blood", "body"}

pytestmark = pytest.mark.e2e


def write_project(folder: Path, models: list[dict[str, Any]], judge: dict[str, Any] | None = None,
                  questions: int = len(QUESTIONS)) -> Path:
    rows = [{"id": question_id, "text": text, "category": category}
            for question_id, text, _, category in QUESTIONS[:questions]]
    return fakes.write_project(folder, models=models, questions=rows, judge=judge,
                               extra={"system_prompt": SYSTEM_PROMPT})


def cli(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def stored(db: Path, query: str) -> list[sqlite3.Row]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def answers(db: Path) -> list[sqlite3.Row]:
    return stored(db, "SELECT model, question_id, text, finish_reason, prompt_tokens, completion_tokens, engine "
                      "FROM answers ORDER BY id")


def looks_english(text: str) -> bool:
    """Mostly words, a fair share of them the commonest English ones: what gibberish is not."""
    words = re.findall(r"[A-Za-z']+", text)
    if len(words) < 5:
        return False
    common = sum(word.lower() in COMMON_WORDS for word in words)
    letters = sum(len(word) for word in words)
    return common / len(words) >= 0.15 and letters / max(1, len(text.replace(" ", ""))) >= 0.75


def assert_real_answers(rows: list[sqlite3.Row], engine_prefix: str) -> None:
    assert rows, "no answers stored"
    keywords = {question_id: keyword for question_id, _, keyword, _ in QUESTIONS}
    for row in rows:
        assert row["engine"].startswith(engine_prefix), row["engine"]
        assert looks_english(row["text"]), row["text"]
        assert "<|im_end|>" not in row["text"] and "<|im_start|>" not in row["text"]
        assert row["prompt_tokens"] > 20 and row["completion_tokens"] >= 5
    on_topic = [row for row in rows if keywords[row["question_id"]] in row["text"].lower()]
    assert len(on_topic) >= 2 * len(rows) // 3, [row["text"][:80] for row in rows]


def chatml_prompt(question: str) -> str:
    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


def test_openvino_generate_on_the_ir(tmp_path: Path, smollm2_openvino_dir: Path) -> None:
    import openvino_genai

    sampling = {"temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 0}
    models = [
        {"name": "smollm2-ov", "backend": "openvino", "model": str(smollm2_openvino_dir), "stop": ["<|im_end|>"],
         "sampling": sampling, "parameters": "135M"},
        # a stop string that is not a token of its own: every answer ends before its first full stop
        {"name": "smollm2-ov-sentence", "backend": "openvino", "model": str(smollm2_openvino_dir),
         "stop": ["<|im_end|>", "."], "sampling": sampling},
    ]
    project = write_project(tmp_path, models)
    done = cli("generate", "-c", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = answers(tmp_path / "arena.db")
    assert len(rows) == 6
    assert_real_answers(rows, "openvino-genai ")
    tokenizer = openvino_genai.Tokenizer(str(smollm2_openvino_dir))
    texts = {question_id: text for question_id, text, _, _ in QUESTIONS}
    for row in rows:  # the ChatML template was applied: the prompt is exactly its rendering
        expected = tokenizer.encode(chatml_prompt(texts[row["question_id"]]), add_special_tokens=False)
        assert row["prompt_tokens"] == expected.input_ids.shape[1]
    sentences = [row for row in rows if row["model"] == "smollm2-ov-sentence"]
    assert all("." not in row["text"] and row["finish_reason"] == "stop" for row in sentences)
    again = cli("generate", "-c", str(project), cwd=tmp_path, timeout=120)  # all stored: no model load
    assert again.returncode == 0 and len(answers(tmp_path / "arena.db")) == 6


def test_transformers_generate_on_the_gguf(tmp_path: Path, smollm2_gguf: Path) -> None:
    models = [{"name": "smollm2-gguf-hf", "backend": "transformers", "model": str(smollm2_gguf), "dtype": "bfloat16",
               "stop": ["<|im_end|>"], "batch_size": 3,
               "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 48, "seed": 0}}]
    project = write_project(tmp_path, models)
    done = cli("generate", "-c", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = answers(tmp_path / "arena.db")
    assert len(rows) == 3
    assert_real_answers(rows, "transformers ")


def llama_cpp_candidate(server: Any, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "openai", "model": server.model, "base_url": server.base_url,
            "stop": ["<|im_end|>"], "max_concurrency": 1, "timeout": 600, "parameters": "135M",
            "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 0}, **extra}


def test_llama_cpp_generate_judge_and_rate(tmp_path: Path, llama_cpp_server: Any) -> None:
    models = [llama_cpp_candidate(llama_cpp_server, "smollm2-q4"),
              llama_cpp_candidate(llama_cpp_server, "smollm2-q4-terse",
                                  system_prompt="Answer in one short sentence.",
                                  sampling={"temperature": 0.2, "max_tokens": 48, "seed": 1})]
    judge = {"name": "smollm2-judge", "backend": "openai", "model": llama_cpp_server.model,
             "base_url": llama_cpp_server.base_url, "max_concurrency": 1, "timeout": 600, "max_retries": 1,
             "context_length": 4096, "sampling": {"max_tokens": 96, "seed": 7}}
    project = write_project(tmp_path, models, judge, questions=2)  # 2 pairs, 4 judgments: ~12 s each

    generated = cli("generate", "-c", str(project), cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr[-3000:]
    rows = answers(tmp_path / "arena.db")
    assert len(rows) == 4
    assert_real_answers(rows, "llama-cpp-python ")

    judged = cli("judge", "-c", str(project), cwd=tmp_path, timeout=1500)
    assert judged.returncode == 0, judged.stderr[-3000:]
    assert "constrained decoding" in judged.stdout, judged.stdout
    assert "battles: 2 judged, 0 reused, 0 invalid" in judged.stdout, judged.stdout
    verdicts = stored(tmp_path / "arena.db", "SELECT raw_output, feedback, verdict, valid, attempts, p_a "
                                             "FROM judgments ORDER BY id")
    assert len(verdicts) == 4
    for row in verdicts:
        assert row["valid"] and row["verdict"] in ("A", "B") and row["attempts"] == 1  # never a retry
        assert row["raw_output"].rstrip().endswith(f"[RESULT] {row['verdict']}")
        assert re.fullmatch(verdict_regex(96), row["raw_output"]) and row["feedback"].strip()  # the grammar's
        assert row["p_a"] is None  # llama.cpp's logprobs under a grammar are the raw distribution's
    assert len(stored(tmp_path / "arena.db", "SELECT id FROM battles")) == 2

    rated = cli("rate", "-c", str(project), cwd=tmp_path, timeout=300)
    assert rated.returncode == 0, rated.stderr[-3000:]
    assert "smollm2-q4" in rated.stdout and "smollm2-q4-terse" in rated.stdout



@pytest.fixture(scope="module")
def smollm2_vllm_server(smollm2_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """vLLM's OpenAI-compatible server on the real model's bf16 folder (this module only)."""
    from arena.local_server import stop_process_group
    from tests.conftest import start_vllm_server

    log_path = tmp_path_factory.mktemp("smollm2-vllm") / "server.log"
    process, base_url = start_vllm_server(smollm2_hf_dir, "smollm2", log_path, max_model_len=2048)
    try:
        yield {"base_url": base_url, "model": "smollm2", "model_dir": smollm2_hf_dir}
    finally:
        stop_process_group(process)


def test_openai_on_a_vllm_server_with_the_real_model_and_a_chat_template_judge(
        tmp_path: Path, smollm2_vllm_server: dict[str, Any]) -> None:
    server = smollm2_vllm_server
    candidate = {"backend": "openai", "model": server["model"], "base_url": server["base_url"],
                 "stop": ["<|im_end|>"], "max_concurrency": 4, "parameters": "135M",
                 "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 0}}
    models = [{"name": "smollm2-server", **candidate},
              {"name": "smollm2-server-terse", **candidate, "system_prompt": "Answer in one short sentence."}]
    # SmolLM2 speaks ChatML: the judge's task goes through its own chat template, constrained by vLLM
    judge = {"name": "smollm2-chatml-judge", "backend": "openai", "model": server["model"],
             "base_url": server["base_url"], "tokenizer": str(server["model_dir"]), "prompt_format": "chat-template",
             "context_length": 2048, "max_invalid_retries": 2, "sampling": {"max_tokens": 96, "seed": 7}}
    project = write_project(tmp_path, models, judge, questions=1)  # 1 pair, 2 judgments

    generated = cli("generate", "-c", str(project), cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr[-3000:]
    rows = answers(tmp_path / "arena.db")
    assert len(rows) == 2
    assert_real_answers(rows, "vllm 0.32.0 (openai server)")

    judged = cli("judge", "-c", str(project), cwd=tmp_path, timeout=900)
    assert judged.returncode == 0, judged.stderr[-3000:]
    assert "constrained decoding" in judged.stdout, judged.stdout
    verdicts = stored(tmp_path / "arena.db", "SELECT raw_output, feedback, verdict, valid FROM judgments")
    assert len(verdicts) == 2 and all(row["valid"] and row["verdict"] in ("A", "B") for row in verdicts)
    assert all(looks_english(row["feedback"]) for row in verdicts), [row["feedback"] for row in verdicts]

    rated = cli("rate", "-c", str(project), cwd=tmp_path, timeout=300)
    assert rated.returncode == 0, rated.stderr[-3000:]
    assert "smollm2-server" in rated.stdout and "smollm2-server-terse" in rated.stdout

    shown = subprocess.run(  # the dashboard's explorer shows the judge's feedback of the rated battles
        [sys.executable, "-c", EXPLORER_FEEDBACK, str(project)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert sorted(json.loads(line) for line in shown.stdout.splitlines()) == sorted(row["feedback"] for row in verdicts)

EXPLORER_FEEDBACK = """
import json, sys
from arena.config import load_config
from arena.dashboard import data
from arena.ratings.snapshots import latest_snapshot
from arena.store.engine import open_read_only
store = open_read_only(load_config(sys.argv[1]).storage_url)
selection = data.snapshot_selection(latest_snapshot(store), None)
for row in data.search_battles(store, data.BattleFilter(selection)).itertuples():
    for judgment in data.battle_detail(store, int(row.battle)).judgments:
        print(json.dumps(judgment.feedback))
"""
