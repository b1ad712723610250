"""A server that answers 200 with something that is not a completion: retried, then one clear error."""

from __future__ import annotations

import pytest

from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.openai import OpenAIBackend
from arena.config import ModelConfig
from tests.fakes.scripted_server import ScriptedReply, ScriptedServer, sequence_script

HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def backend_for(server: ScriptedServer) -> OpenAIBackend:
    return OpenAIBackend(ModelConfig.model_validate({
        "name": "m", "backend": "openai", "model": "scripted", "base_url": server.base_url,
        "max_retries": 2, "timeout": 5,
    }))


def ask(server: ScriptedServer, chat: bool = True) -> list:
    sampling = SamplingSettings(max_tokens=16)
    request = (GenerationRequest(key="q", sampling=sampling, messages=({"role": "user", "content": "hi"},))
               if chat else GenerationRequest(key="q", sampling=sampling, prompt="hi"))
    return list(backend_for(server).generate([request]))


@pytest.mark.parametrize(("body", "content_type", "said"), [
    ('{"choices": []}', "application/json", "choices []"),
    ('{"object": "chat.completion"}', "application/json", "choices missing"),
    ('{"choices": [{"index": 0, "finish_reason": "stop"}]}', "application/json", "without text"),
    ('{"choices": [{"message": {"role": "assistant", "content": null}}]}', "application/json", "without text"),
    ('["not", "an", "object"]', "application/json", "JSON list"),
    (HTML, "text/html; charset=utf-8", "not JSON (text/html"),
])
def test_a_malformed_completion_is_retried_then_fails_saying_what_came_back(
        body: str, content_type: str, said: str) -> None:
    with ScriptedServer(lambda prompt: ScriptedReply(raw_body=body, content_type=content_type)) as server:
        (result,) = ask(server)
    assert not result.ok and result.text == ""
    assert said in result.error and "after 3 attempt(s)" in result.error
    assert "\n" not in result.error
    assert len(server.requests) == 3  # retried like a 5xx
    if content_type.startswith("text/html"):
        assert "<html><body>" in result.error


def test_a_malformed_completion_then_a_good_one_succeeds() -> None:
    replies = [ScriptedReply(raw_body='{"choices": []}'), "a real answer"]
    with ScriptedServer(sequence_script(replies)) as server:
        (result,) = ask(server, chat=False)
    assert result.ok and result.text == "a real answer" and len(server.requests) == 2
