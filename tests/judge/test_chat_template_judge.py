"""`judge.prompt_format: chat-template`: a judge that is not Prometheus 2 reads the same task
through its own chat template; a Prometheus judge's prompt and key are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.backends.scripted import ScriptedBackend
from arena.errors import ConfigError
from arena.files import resolve_path
from arena.judge import run_judge
from arena.judge.key import current_judge_key, judge_settings
from arena.judge.prompt import REL_SYSTEM_PROMPT, chat_prompt, prompt_parts, relative_task
from arena.judge.template import judge_chat_template, local_chat_template
from arena.judge.truncate import FastTokenCounter, fit_answers, fixed_tokens
from arena.tinymodels import CHATML_TEMPLATE, MISTRAL_TEMPLATE
from tests.judge.helpers import add_answers, answers_of_length, make_project

CHATML = "arena:templates/chatml.jinja"


def judge_entry(**overrides: object) -> dict[str, object]:
    return {"name": "chat-judge", "backend": "transformers", "model": "/placeholder/judge",
            "prompt_format": "chat-template", "chat_template": CHATML, **overrides}


def test_chatml_judge_reads_system_and_user_turns_then_the_assistant_prompt() -> None:
    template = resolve_path(CHATML).read_text(encoding="utf-8")
    task = relative_task("Is it safe?", "[Is the response safe?]", "the reference")
    prompt = prompt_parts("Is it safe?", "[Is the response safe?]", "the reference", chat_template=template)
    text = prompt.join("Yes.", "No.")
    user = task.user.join("Yes.", "No.")
    assert text == (f"<|im_start|>system\n{REL_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert "[INST]" not in text


def test_a_template_without_a_system_role_gets_the_system_prompt_in_the_user_turn() -> None:
    task = relative_task("q", "[r]")
    text = chat_prompt(task, MISTRAL_TEMPLATE).join("a", "b")
    assert text.count("[INST]") == 1 and REL_SYSTEM_PROMPT in text
    assert text.index(REL_SYSTEM_PROMPT) < text.index("###Task Description")


def test_truncation_counts_the_rendered_template(tmp_path: Path) -> None:
    from arena.tinymodels import build_tiny_model

    model = build_tiny_model(tmp_path / "chatml", "chatml")
    counter = FastTokenCounter(model / "tokenizer.json")
    raw = prompt_parts("q", "[r]")
    rendered = prompt_parts("q", "[r]", chat_template=CHATML_TEMPLATE)
    assert fixed_tokens(rendered, counter) > fixed_tokens(raw, counter)
    budget = fixed_tokens(rendered, counter) + 9 + 2 * 40
    long = " ".join(["word"] * 400)
    fitted = fit_answers(rendered, long, long, counter.count(long), counter.count(long), counter, budget)
    assert fitted.truncated
    assert counter.count(rendered.join(fitted.x, fitted.y)) <= budget


def test_prometheus_key_is_unchanged_and_a_chat_template_judge_keys_its_template(tmp_path: Path) -> None:
    prometheus = make_project(tmp_path / "p", {"name": "j", "backend": "transformers", "model": "/placeholder/j"})
    assert "prompt_format" not in judge_settings(prometheus.config().judge)  # type: ignore[arg-type]
    chat = make_project(tmp_path / "c", judge_entry())
    other = tmp_path / "other.jinja"
    other.write_text(CHATML_TEMPLATE + " ", encoding="utf-8")
    changed = make_project(tmp_path / "o", judge_entry(chat_template=str(other)))
    keys = {current_judge_key(p.config()) for p in (prometheus, chat, changed)}
    assert len(keys) == 3


def test_the_template_comes_from_the_tokenizer_files_or_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}), encoding="utf-8")
    assert local_chat_template(folder) == "{{ messages }}"
    (folder / "chat_template.jinja").write_text("jinja file", encoding="utf-8")
    assert local_chat_template(folder) == "jinja file"
    project = make_project(tmp_path / "p", judge_entry(chat_template=None, model=str(folder)))
    assert judge_chat_template(project.config().judge) == "jinja file"  # type: ignore[arg-type]
    bare = make_project(tmp_path / "b", judge_entry(chat_template=None, model=str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="no chat template was found"):
        judge_chat_template(bare.config().judge)  # type: ignore[arg-type]


def test_run_judge_sends_the_rendered_template_and_stores_the_verdicts(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", judge_entry())
    add_answers(project, answers_of_length())
    backend = ScriptedBackend(lambda prompt: "Response B is longer and more complete here. [RESULT] B")
    summary = run_judge(project.config(), backend=backend, progress=False)
    assert summary.judged == 6 and summary.invalid == 0
    assert all(p.startswith("<|im_start|>system\n") and p.endswith("<|im_start|>assistant\n")
               for p in backend.prompts)
    assert all(j["feedback"].startswith("Response B") for j in project.judgments())


def test_no_p_a_is_asked_for_where_logprobs_ignore_the_constraint(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from arena.judge.run import TOP_LOGPROBS, logprobs_wanted

    judge = make_project(tmp_path / "p", judge_entry()).config().judge
    assert judge is not None
    llama_cpp = SimpleNamespace(supports_logprobs=True, logprobs_follow_constraint=False)
    vllm = SimpleNamespace(supports_logprobs=True)
    assert logprobs_wanted(judge, llama_cpp, constrained=True) is None  # type: ignore[arg-type]
    assert logprobs_wanted(judge, llama_cpp, constrained=False) == TOP_LOGPROBS  # type: ignore[arg-type]
    assert logprobs_wanted(judge, vllm, constrained=True) == TOP_LOGPROBS  # type: ignore[arg-type]


def test_backends_with_simple_regex_support_get_the_plain_verdict_regex() -> None:
    from types import SimpleNamespace

    from arena.backends.openvino import OpenVinoBackend
    from arena.judge.run import judge_regex
    from arena.judge.verdict import plain_verdict_regex, verdict_regex

    assert OpenVinoBackend.plain_regex_only
    assert judge_regex(SimpleNamespace(plain_regex_only=True), 80) == plain_verdict_regex(80)  # type: ignore[arg-type]
    assert judge_regex(SimpleNamespace(), 80) == verdict_regex(80)  # type: ignore[arg-type]
    assert plain_verdict_regex(80).isascii()


def test_a_gguf_judge_counts_with_its_own_tokenizer_and_reads_its_template(tmp_path: Path, smollm2_gguf: Path) -> None:
    pytest.importorskip("gguf")
    from arena.judge.truncate import HfTokenCounter, load_token_counter

    project = make_project(tmp_path / "p", judge_entry(chat_template=None, backend="transformers", model=str(smollm2_gguf)))
    judge = project.config().judge
    assert judge is not None
    counter = load_token_counter(judge)
    assert isinstance(counter, HfTokenCounter) and "<|im_end|>" in counter.special_tokens
    assert counter.count("<|im_start|>user\nhello<|im_end|>") < 10
    template = judge_chat_template(judge)
    assert template is not None and "<|im_start|>" in template
