"""The in-process test double: replies from a script, errors, logprobs, crashes; never in arena.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.scripted import ScriptedBackend, ScriptedReply, request_text
from arena.config import load_config
from arena.errors import ConfigError
from tests.fakes.project import openai_model, write_project

SAMPLING = SamplingSettings(max_tokens=8)


def test_text_scripts_read_the_prompt_or_the_joined_messages() -> None:
    backend = ScriptedBackend(lambda text: f"echo {text}")
    chat = GenerationRequest(key="c", sampling=SAMPLING, messages=({"role": "system", "content": "s"},
                                                                     {"role": "user", "content": "q"}))
    raw = GenerationRequest(key="r", sampling=SAMPLING, prompt="p")
    results = {r.key: r for r in backend.generate([chat, raw])}
    assert results["c"].text == "echo s\n\nq" and results["r"].text == "echo p"
    assert backend.prompts == ["s\n\nq", "p"] == [request_text(chat), request_text(raw)]
    assert results["r"].ok and results["r"].finish_reason == "stop" and results["r"].completion_tokens == 2


def test_replies_carry_errors_and_logprobs_only_when_asked() -> None:
    reply = ScriptedReply(text="[RESULT] A", logprobs=((" A", {" A": -0.1, " B": -2.0}),), completion_tokens=1)
    backend = ScriptedBackend(lambda text: reply if text == "ok" else ScriptedReply(text="busy", status=503))
    asked = GenerationRequest(key="a", sampling=SAMPLING, prompt="ok", logprobs=2)
    plain = GenerationRequest(key="p", sampling=SAMPLING, prompt="ok")
    failed = GenerationRequest(key="f", sampling=SAMPLING, prompt="other")
    results = {r.key: r for r in backend.generate([asked, plain, failed])}
    assert results["a"].top_logprobs == [{" A": -0.1, " B": -2.0}] and results["p"].top_logprobs is None
    assert not results["f"].ok and results["f"].error == "HTTP 503: busy"


def test_a_factory_names_backends_after_their_models_and_can_crash(tmp_path: Path) -> None:
    made: list[ScriptedBackend] = []
    factory = ScriptedBackend.factory(lambda request: request.key, made, die_after=1)
    config = _config(tmp_path, "openai")
    backend = factory(config.models[0])
    requests = [GenerationRequest(key=k, sampling=SAMPLING, prompt="x") for k in ("q1", "q2")]
    results = backend.generate(requests)
    assert next(results).text == "q1"
    with pytest.raises(RuntimeError, match="engine crashed"):
        next(results)
    backend.close()
    assert made == [backend] and backend.name == "m" and backend.closed


def test_a_project_file_cannot_name_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend"):
        _config(tmp_path, "scripted")


def _config(root: Path, backend: str):  # type: ignore[no-untyped-def]
    entry = {**openai_model("m", model="m"), "backend": backend}
    return load_config(write_project(root, models=[entry], questions_file="q.jsonl",
                                     questions=[{"id": "q1", "text": "What?", "category": "cardiology"}]))
