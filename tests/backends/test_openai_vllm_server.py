"""The OpenAI backend against the session's real vLLM server: detection, regex, logprobs, stops."""

from __future__ import annotations

import re
from typing import Any

import pytest

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.openai import OpenAIBackend
from arena.config import ModelConfig

pytestmark = pytest.mark.e2e


def backend_for(server: Any, **extra: Any) -> OpenAIBackend:
    entry = ModelConfig.model_validate({"name": "tiny-http", "backend": "openai", "model": server.model,
                                        "base_url": server.base_url, **extra})
    backend = make_backend(entry)
    assert isinstance(backend, OpenAIBackend)
    return backend


def test_detects_vllm_and_resolves_special_stops(vllm_server: Any) -> None:
    backend = backend_for(vllm_server, stop=["<|eot_id|>", "plain words"])
    assert backend.is_vllm and backend.supports_regex
    assert backend.engine == "vllm 0.32.0 (openai server)"
    assert len(backend.stop_token_ids) == 1  # <|eot_id|> is one token; "plain words" is not


def test_regex_and_logprobs_on_a_raw_prompt(vllm_server: Any) -> None:
    backend = backend_for(vllm_server)
    pattern = r"[a-z ]{1,12}\[RESULT\] (A|B)"
    requests = [GenerationRequest(key=str(i), prompt=f"[INST] compare {i} [/INST]", regex=pattern, logprobs=3,
                                  sampling=SamplingSettings(temperature=1.0, max_tokens=40, seed=i))
                for i in range(4)]
    results = list(backend.generate(requests))
    assert sorted(r.key for r in results) == ["0", "1", "2", "3"]
    for result in results:
        assert result.ok, result.error
        assert re.fullmatch(pattern, result.text), result.text
        assert result.top_logprobs and len(result.top_logprobs) == result.completion_tokens
        assert all(len(position) >= 3 for position in result.top_logprobs)


def test_the_judge_verdict_regex_is_accepted_and_every_finished_output_parses(vllm_server: Any) -> None:
    from arena.judge.verdict import parse_verdict, verdict_regex

    backend = backend_for(vllm_server)
    requests = [GenerationRequest(key=str(i), prompt=f"[INST] judge {i} [/INST]", regex=verdict_regex(64),
                                  sampling=SamplingSettings(temperature=1.0, max_tokens=64, seed=i))
                for i in range(8)]
    results = list(backend.generate(requests))
    assert len(results) == 8 and all(r.ok for r in results), [r.error for r in results]
    finished = [r for r in results if r.finish_reason == "stop"]
    assert finished  # the random model does reach its verdict within the budget sometimes
    for result in finished:
        assert parse_verdict(result.text, result.finish_reason).valid, result.text
    for result in results:
        assert result.finish_reason in ("stop", "length")
        assert result.finish_reason == "stop" or not parse_verdict(result.text, result.finish_reason).valid


def test_chat_with_logprobs_and_sampling_extras(vllm_server: Any) -> None:
    backend = backend_for(vllm_server, stop=["<|eot_id|>"])
    request = GenerationRequest(
        key="c", messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Chest pain?"}),
        sampling=SamplingSettings(temperature=0.7, top_k=20, repetition_penalty=1.05, max_tokens=8, seed=3,
                                  stop=("<|eot_id|>",)),
        logprobs=2,
    )
    (result,) = backend.generate([request])
    assert result.ok, result.error
    assert result.finish_reason in ("stop", "length") and 1 <= result.completion_tokens <= 8
    assert result.prompt_tokens > 5
    assert result.top_logprobs and len(result.top_logprobs) == result.completion_tokens


def test_a_bad_request_fails_alone_without_retries(vllm_server: Any) -> None:
    backend = backend_for(vllm_server, max_retries=3)
    requests = [
        GenerationRequest(key="ok", prompt="hello", sampling=SamplingSettings(max_tokens=4)),
        GenerationRequest(key="too-long", prompt="hello", sampling=SamplingSettings(max_tokens=100_000)),
    ]
    results = {r.key: r for r in backend.generate(requests)}
    assert results["ok"].ok
    assert results["too-long"].error and results["too-long"].error.startswith("RequestRejected: HTTP 400")
