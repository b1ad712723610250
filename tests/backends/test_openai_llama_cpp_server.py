"""The OpenAI backend against the session's real llama-cpp-python server on SmolLM2's GGUF."""

from __future__ import annotations

import re
from typing import Any

import pytest

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.openai import LLAMA_CPP_PYTHON, OpenAIBackend
from arena.config import ModelConfig

pytestmark = pytest.mark.e2e


def backend_for(server: Any, **extra: Any) -> OpenAIBackend:
    entry = ModelConfig.model_validate({"name": "smollm2-llama", "backend": "openai", "model": server.model,
                                        "base_url": server.base_url, "max_concurrency": 1, "timeout": 300,
                                        **extra})
    backend = make_backend(entry)
    assert isinstance(backend, OpenAIBackend)
    return backend


def test_the_server_is_recognised(llama_cpp_server: Any) -> None:
    backend = backend_for(llama_cpp_server)
    assert backend.server.kind == LLAMA_CPP_PYTHON and backend.supports_regex and not backend.is_vllm
    assert re.fullmatch(r"llama-cpp-python \d+\.\d+\.\d+ \(openai server\)", backend.engine), backend.engine


def test_regexes_constrain_real_output(llama_cpp_server: Any) -> None:
    backend = backend_for(llama_cpp_server)
    patterns = {"yes-no": r"(yes|no), because [a-z ]{5,30}\.", "digits": r"[0-9]{3}-[0-9]{2}",
                "verdict": r"[ -~\t\n]{1,60} \[RESULT\] (A|B)"}
    requests = [GenerationRequest(key=key, prompt=f"[INST] Is a fever of 39 C in an adult an emergency? ({key}) [/INST]",
                                  regex=pattern, sampling=SamplingSettings(temperature=1.0, max_tokens=80, seed=4))
                for key, pattern in patterns.items()]
    results = {r.key: r for r in backend.generate(requests)}
    for key, pattern in patterns.items():
        assert results[key].ok, results[key].error
        assert re.fullmatch(pattern, results[key].text), (key, results[key].text)


def test_chat_answers_stop_at_the_end_of_turn_and_honour_stop_strings(llama_cpp_server: Any) -> None:
    backend = backend_for(llama_cpp_server)
    messages = ({"role": "user", "content": "Say hello in five words."},)
    greedy = SamplingSettings(temperature=0, max_tokens=60, stop=("<|im_end|>",))
    (hello,) = backend.generate([GenerationRequest(key="h", sampling=greedy, messages=messages)])
    assert hello.ok and hello.finish_reason == "stop" and hello.completion_tokens < 60
    assert "<|im_end|>" not in hello.text and hello.text.strip()
    word = hello.text.split()[1]
    stopped = SamplingSettings(temperature=0, max_tokens=60, stop=("<|im_end|>", word))
    (cut,) = backend.generate([GenerationRequest(key="c", sampling=stopped, messages=messages)])
    assert cut.finish_reason == "stop" and word not in cut.text and hello.text.startswith(cut.text.rstrip())
