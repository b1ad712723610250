"""The OpenAI-compatible HTTP backend against a scripted server on a real loopback socket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings, render_chat_template
from arena.backends.openai import OpenAIBackend
from arena.config import ModelConfig
from arena.errors import BackendError
from arena.local_server import free_port
from tests.fakes.scripted_server import ScriptedReply, ScriptedServer


def vllm_echo(prompt: str) -> ScriptedReply:
    """Echo the prompt with fixed token counts and a top-logprobs entry (sent when asked for)."""
    return ScriptedReply(text=f"answer to {prompt}", prompt_tokens=7, completion_tokens=5,
                         logprobs=(("A", {"A": -0.1, "B": -2.5}),))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A vLLM server in identity (owner "vllm", /version, /tokenize) serving "tiny"; it echoes."""
    with ScriptedServer(vllm_echo, model="tiny", owned_by="vllm", version="0.32.0") as fake:
        yield fake


def entry(base_url: str, **overrides: object) -> ModelConfig:
    values: dict[str, object] = {
        "name": "m", "backend": "openai", "model": "tiny", "base_url": base_url,
        "max_retries": 2, "timeout": 5, "stop": ["<|eot_id|>"],
        "sampling": {"temperature": 0.4, "top_k": 150, "top_p": 0.75, "max_tokens": 32,
                     "repetition_penalty": 1.05, "seed": 7},
    }
    values.update(overrides)
    return ModelConfig.model_validate(values)


def chat(key: str, text: str, sampling: SamplingSettings | None = None, **kwargs: object) -> GenerationRequest:
    return GenerationRequest(key=key, sampling=sampling or SamplingSettings(max_tokens=32),
                             messages=({"role": "user", "content": text},), **kwargs)  # type: ignore[arg-type]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens on a port that was just free


def test_vllm_server_gets_its_extra_parameters(server: ScriptedServer) -> None:
    model = entry(server.base_url)
    backend = make_backend(model)
    assert isinstance(backend, OpenAIBackend)
    assert backend.supports_regex and backend.supports_logprobs
    assert backend.engine == "vllm 0.32.0 (openai server)"
    results = list(backend.generate([chat("q1", "hello", model.sampling_settings())]))
    assert [(r.key, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens) for r in results] == [
        ("q1", "answer to hello", "stop", 7, 5)
    ]
    assert results[0].ok and results[0].latency_s is not None
    path, body, headers = server.requests[0].path, server.requests[0].body, server.requests[0].headers
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer EMPTY"
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["stop"] == ["<|eot_id|>"] and body["stop_token_ids"] == [99]
    assert (body["top_k"], body["top_p"], body["temperature"], body["seed"]) == (150, 0.75, 0.4, 7)
    assert body["repetition_penalty"] == 1.05 and "repeat_penalty" not in body
    assert body["skip_special_tokens"] is True


def test_other_servers_get_only_portable_parameters(server: ScriptedServer) -> None:
    server.owned_by = "localai"
    backend = make_backend(entry(server.base_url))
    assert not backend.supports_regex and backend.engine == "openai-compatible (localai)"
    list(backend.generate([chat("q", "x", entry(server.base_url).sampling_settings(), regex=r"[AB]")]))
    body = server.requests[0].body
    assert "structured_outputs" not in body and "stop_token_ids" not in body and "grammar" not in body
    assert "skip_special_tokens" not in body and "min_p" not in body
    assert body["repeat_penalty"] == 1.05
    assert "/props" not in server.probes  # a named owner is not probed


def judge_request(regex: str | None, sampling: SamplingSettings | None = None) -> GenerationRequest:
    return GenerationRequest(key="j", sampling=sampling or SamplingSettings(max_tokens=64), prompt="[INST] judge [/INST]",
                             regex=regex)


def test_llama_server_is_detected_and_gets_a_grammar(server: ScriptedServer) -> None:
    server.owned_by = "llamacpp"
    server.props = {"build_info": "b6000-abc", "default_generation_settings": {"n_ctx": 4096}}
    backend = make_backend(entry(server.base_url))
    assert isinstance(backend, OpenAIBackend)
    assert backend.is_llama_cpp and not backend.is_vllm and backend.supports_regex
    assert backend.engine == "llama.cpp b6000-abc (llama-server)"
    list(backend.generate([judge_request(r"[ -~]{1,40} \[RESULT\] (A|B)")]))
    body = server.requests[0].body
    assert body["grammar"] == 'root ::= ([\\x20-~]{1,40} " [RESULT] " ("A" | "B"))\n'
    assert "structured_outputs" not in body and "stop_token_ids" not in body and "skip_special_tokens" not in body


def test_older_llama_server_is_known_by_its_props(server: ScriptedServer) -> None:
    server.owned_by = None  # no /models at all
    server.props = {"default_generation_settings": {"n_ctx": 2048}}
    backend = make_backend(entry(server.base_url))
    assert backend.is_llama_cpp and backend.engine == "llama.cpp ? (llama-server)"


def test_llama_cpp_python_is_detected_by_owner_and_openapi_title(server: ScriptedServer) -> None:
    server.owned_by = "me"
    server.openapi_title = "🦙 llama.cpp Python API"
    backend = make_backend(entry(server.base_url))
    assert backend.is_llama_cpp and backend.supports_regex
    assert backend.engine == "llama-cpp-python 0.3.36 (openai server)"


def test_owned_by_me_alone_is_not_llama_cpp(server: ScriptedServer) -> None:
    server.owned_by = "me"
    server.openapi_title = "Some other FastAPI app"
    backend = make_backend(entry(server.base_url))
    assert not backend.is_llama_cpp and not backend.supports_regex
    assert backend.engine == "openai-compatible (me)"


def test_llama_cpp_gets_every_sampling_setting_under_its_names(server: ScriptedServer) -> None:
    server.owned_by = "llamacpp"
    model = entry(server.base_url, sampling={"temperature": 0.7, "max_tokens": 32})  # top_k -1, penalty 1.0
    backend = make_backend(model)
    list(backend.generate([chat("q", "x", model.sampling_settings())]))
    body = server.requests[0].body
    # llama.cpp's own defaults (top-k 40, min-p 0.05, repeat penalty 1.1 in llama-cpp-python) must not apply
    assert (body["top_k"], body["min_p"], body["repeat_penalty"]) == (0, 0.0, 1.0)
    assert "repetition_penalty" not in body and "grammar" not in body
    assert body["stop"] == ["<|eot_id|>"]
    list(backend.generate([chat("q", "x", SamplingSettings(top_k=20, repetition_penalty=1.2))]))
    body = server.requests[1].body
    assert (body["top_k"], body["repeat_penalty"]) == (20, 1.2)


def test_regex_outside_the_grammar_subset_goes_unconstrained(server: ScriptedServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    server.owned_by = "llamacpp"
    backend = make_backend(entry(server.base_url))
    results = list(backend.generate([judge_request(r"(?=x)[AB]"), judge_request(r"(?=x)[AB]")]))
    assert all(r.ok for r in results)
    assert all("grammar" not in body for body in (r.body for r in server.requests))
    warnings = [r for r in caplog.records if "cannot constrain" in r.getMessage()]
    assert len(warnings) == 1  # once per regex, not per request


def test_server_without_models_endpoint_still_works(server: ScriptedServer) -> None:
    server.owned_by = None
    backend = make_backend(entry(server.base_url))
    assert backend.engine == "openai-compatible" and not backend.supports_regex
    assert [r.text for r in backend.generate([chat("a", "b")])] == ["answer to b"]


def test_raw_prompt_regex_and_logprobs_on_completions(server: ScriptedServer) -> None:
    server.script = lambda prompt: replace(vllm_echo(prompt), finish_reason="length")
    backend = make_backend(entry(server.base_url))
    request = GenerationRequest(key="j", sampling=SamplingSettings(max_tokens=4), prompt="[INST] judge [/INST]",
                                regex=r"[\s\S]*\[RESULT\] (A|B)", logprobs=5)
    (result,) = backend.generate([request])
    path, body = server.requests[0].path, server.requests[0].body
    assert path == "/v1/completions"
    assert body["prompt"] == "[INST] judge [/INST]"
    assert body["structured_outputs"] == {"regex": r"[\s\S]*\[RESULT\] (A|B)"}
    assert body["logprobs"] == 5
    assert result.top_logprobs == [{"A": -0.1, "B": -2.5}]
    assert result.truncated  # finish_reason "length"


def test_chat_logprobs(server: ScriptedServer) -> None:
    backend = make_backend(entry(server.base_url))
    (result,) = backend.generate([chat("k", "q", logprobs=2)])
    body = server.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert result.top_logprobs == [{"A": -0.1, "B": -2.5}]


def test_template_file_renders_the_prompt_here(server: ScriptedServer, tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    backend = make_backend(entry(server.base_url, chat_template=str(template)))
    messages = ({"role": "system", "content": "S"}, {"role": "user", "content": "Q"})
    list(backend.generate([GenerationRequest(key="k", sampling=SamplingSettings(), messages=messages)]))
    path, body = server.requests[0].path, server.requests[0].body
    assert path == "/v1/completions"
    assert body["prompt"] == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"


def test_retries_429_and_5xx_then_succeeds(server: ScriptedServer) -> None:
    server.routes["/v1/chat/completions"] = [
        (503, {"error": {"message": "overloaded"}}, {}),
        (429, {"error": {"message": "slow down"}}, {"retry-after": "0"}),
    ]
    backend = make_backend(entry(server.base_url))
    (result,) = backend.generate([chat("k", "q")])
    assert result.ok and result.text == "answer to q"
    assert len(server.requests) == 3


def test_gives_up_after_retries_with_a_one_line_error(server: ScriptedServer) -> None:
    server.raw = lambda path, body: (500, {"error": {"message": "boom\nstack"}}, {})
    backend = make_backend(entry(server.base_url, max_retries=1))
    (result,) = backend.generate([chat("k", "q")])
    assert result.error == "RetryableStatus: HTTP 500: boom after 2 attempt(s)"
    assert len(server.requests) == 2


def test_never_retries_other_4xx(server: ScriptedServer) -> None:
    server.raw = lambda path, body: (400, {"error": {"message": "max_tokens is too large"}}, {})
    backend = make_backend(entry(server.base_url))
    (result,) = backend.generate([chat("k", "q")])
    assert result.error == "RequestRejected: HTTP 400: max_tokens is too large"
    assert len(server.requests) == 1


def test_unreachable_server_is_a_clear_backend_error() -> None:
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"model 'm': server at .* unreachable after 2 attempt\(s\)"):
        make_backend(entry(url, max_retries=1, timeout=1))
    assert time.monotonic() - started < 10


def test_server_dying_mid_run_raises_after_the_finished_results(server: ScriptedServer) -> None:
    backend = make_backend(entry(server.base_url, max_retries=1, max_concurrency=1))
    results = backend.generate([chat(str(i), f"q{i}") for i in range(5)])
    first = next(results)
    assert first.ok
    server.stop()
    with pytest.raises(BackendError, match="unreachable"):
        list(results)


def test_wrong_model_name_on_a_vllm_server(server: ScriptedServer) -> None:
    with pytest.raises(BackendError, match=r"serves tiny, not 'other'"):
        make_backend(entry(server.base_url, model="other"))


def test_api_key_comes_from_the_named_variable(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_TEST_KEY", raising=False)
    with pytest.raises(BackendError, match="environment variable ARENA_TEST_KEY"):
        make_backend(entry(server.base_url, api_key_env="ARENA_TEST_KEY"))
    monkeypatch.setenv("ARENA_TEST_KEY", "sekret")
    backend = make_backend(entry(server.base_url, api_key_env="ARENA_TEST_KEY"))
    list(backend.generate([chat("k", "q")]))
    assert server.requests[0].headers["Authorization"] == "Bearer sekret"


def test_bounded_concurrency_and_results_in_completion_order(server: ScriptedServer) -> None:
    server.delay_s = lambda body: 0.5 if body and body.get("messages", [{}])[-1].get("content") == "slow" else 0.05
    backend = make_backend(entry(server.base_url, max_concurrency=2))
    requests = [chat("slow", "slow")] + [chat(str(i), str(i)) for i in range(6)]
    keys = [r.key for r in backend.generate(requests)]
    assert sorted(keys) == sorted(r.key for r in requests)
    assert keys[-1] == "slow"  # yielded when finished, not in request order
    assert server.max_in_flight == 2


def test_closing_the_generator_early_stops_the_requests(server: ScriptedServer) -> None:
    server.delay_s = lambda body: 0.05
    backend = make_backend(entry(server.base_url, max_concurrency=1))
    results = backend.generate([chat(str(i), str(i)) for i in range(50)])
    next(results)
    results.close()
    time.sleep(0.3)
    assert len(server.requests) < 10


def test_render_chat_template_raise_exception() -> None:
    template = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}x"
    with pytest.raises(Exception, match="no system role"):
        render_chat_template(template, [{"role": "system", "content": "s"}])
    assert render_chat_template(template, [{"role": "user", "content": "u"}]) == "x"
