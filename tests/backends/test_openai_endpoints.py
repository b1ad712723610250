"""One model served by several replicas (`base_url` as a list): requests spread over the live
endpoints, a dying endpoint is set aside while the others carry on, and only when all are down
does the model fail, naming them."""

from __future__ import annotations

import logging
import threading

import pytest

from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.openai import OpenAIBackend
from arena.backends.scripted import ScriptedReply
from arena.config import ModelConfig
from arena.errors import BackendError
from tests.fakes.scripted_server import ScriptedServer


def entry(urls: list[str]) -> ModelConfig:
    return ModelConfig.model_validate({"name": "m", "backend": "openai", "model": "scripted", "base_url": urls,
                                       "max_retries": 1, "timeout": 5, "max_concurrency": 6})


def requests(n: int) -> list[GenerationRequest]:
    return [GenerationRequest(key=str(k), sampling=SamplingSettings(max_tokens=8),
                              messages=({"role": "user", "content": f"question {k}"},)) for k in range(n)]


class DiesAfter:
    """Answers `n` requests, then 503 for ever (a replica that went down mid-run)."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.lock = threading.Lock()

    def __call__(self, prompt: str) -> str | ScriptedReply:
        with self.lock:
            self.left -= 1
            alive = self.left >= 0
        return f"answer to {prompt}" if alive else ScriptedReply(text="replica down", status=503)


def test_requests_spread_and_a_dying_endpoint_is_set_aside(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedServer(lambda p: f"answer to {p}", delay_s=0.02) as a, \
            ScriptedServer(lambda p: f"answer to {p}", delay_s=0.02) as b, \
            ScriptedServer(DiesAfter(5), delay_s=0.02) as dying:
        backend = OpenAIBackend(entry([a.base_url, b.base_url, dying.base_url]))
        with caplog.at_level(logging.WARNING):
            results = list(backend.generate(requests(60)))
    assert sorted(int(r.key) for r in results) == list(range(60))  # none lost
    assert all(r.ok and r.text.startswith("answer to question") for r in results)
    assert min(len(a.requests), len(b.requests)) >= 15  # spread, not all on one
    assert list(backend.set_aside) == [dying.base_url]
    assert f"endpoint {dying.base_url} set aside" in caplog.text


def test_an_endpoint_down_at_start_is_set_aside_and_all_down_names_them() -> None:
    dead = "http://127.0.0.1:9/v1"
    with ScriptedServer(lambda p: "ok") as alive:
        backend = OpenAIBackend(entry([dead, alive.base_url]))
        assert list(backend.set_aside) == [dead]
        assert [r.text for r in backend.generate(requests(3))] == ["ok"] * 3
    with pytest.raises(BackendError, match=r"every endpoint failed: http://127.0.0.1:9/v1 \(.*\); http"):
        list(backend.generate(requests(2)))  # the live one has gone too


def test_an_endpoint_listed_twice_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="lists an endpoint twice"):
        entry(["http://a/v1", "http://a/v1/"])
