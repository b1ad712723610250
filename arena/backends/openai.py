"""Models behind an OpenAI-compatible HTTP server: vLLM's server, TGI, llama.cpp, LocalAI, Ollama.

Requests run concurrently on an asyncio loop in a worker thread (at most `max_concurrency` at
a time) and each result is handed to the caller through a queue as soon as it is finished, so
the caller can commit it at once. Timeouts, connection errors, 429 and 5xx are retried with
exponential backoff and jitter; other 4xx are not (the request itself is wrong). A server that
cannot be reached after the retries is a `BackendError` naming the model and URL.

`messages` requests go to /chat/completions, which applies the server's chat template. When the
model entry names a template file (a base model without a template of its own), the prompt is
rendered here instead and sent to /completions, so every server sees the same text. Raw
`prompt` requests go to /completions.

vLLM servers (detected from GET /models, `owned_by: "vllm"`) also get regex-constrained
decoding, top-k, repetition penalty, and special-token stops resolved to token ids through
their /tokenize endpoint (vLLM matches stop strings against text with special tokens removed,
so a stop string such as `<|eot_id|>` alone would never match).

llama.cpp servers get constrained decoding too: the regex is translated into a GBNF `grammar`
(`arena.backends.gbnf`). Both are detected: llama.cpp's own `llama-server` reports
`owned_by: "llamacpp"` (older builds: a /props endpoint with `default_generation_settings`), and
llama-cpp-python's server reports `owned_by: "me"` with an OpenAPI title naming llama.cpp. They
get llama.cpp's names (`top_k`, `repeat_penalty`) always sent, with `min_p: 0`: their defaults
(top-k 40, min-p 0.05, llama-cpp-python's repeat penalty 1.1) would otherwise silently change
the entry's sampling. End-of-turn tokens stop llama.cpp by themselves (they are end-of-generation
tokens in the GGUF), so stop strings are sent as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from arena.backends.base import (
    GenerationRequest,
    GenerationResult,
    one_line,
    render_chat_template,
    single_token_ids,
)
from arena.backends.gbnf import UnsupportedRegex, regex_to_gbnf
from arena.config import ModelConfig
from arena.errors import BackendError

MAX_RETRY_AFTER_S = 60.0
# llama.cpp refuses counted repetitions of about 2,000 or more (arena.backends.gbnf): longer upper
# bounds (the verdict's feedback cap at a large max_tokens) are lowered to this.
LLAMA_CPP_MAX_REPETITION = 1999
VLLM = "vllm"
LLAMA_CPP = "llama.cpp"  # llama.cpp's own llama-server
LLAMA_CPP_PYTHON = "llama-cpp-python"  # python -m llama_cpp.server
GRAMMAR_SERVERS = (LLAMA_CPP, LLAMA_CPP_PYTHON)

log = logging.getLogger(__name__)


class RetryableStatus(Exception):
    """A 429 or 5xx answer: worth trying again."""

    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after = retry_after


class RequestRejected(Exception):
    """Any other non-2xx answer: the request itself is wrong, so it is not retried."""


class MalformedCompletion(Exception):
    """A 2xx answer that is not a completion (not JSON, no choices, no text): retried like a 5xx."""


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (RetryableStatus, MalformedCompletion, httpx.TimeoutException, httpx.TransportError))


def is_unreachable(exc: BaseException) -> bool:
    """The server itself is gone (as opposed to one slow or refused request)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def backoff(initial: float = 0.5, maximum: float = 30.0) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, honouring a server's Retry-After on 429/503."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_S)
        exponential = initial * 2 ** (state.attempt_number - 1)
        return min(maximum, exponential + random.uniform(0, initial))

    return wait


def error_message(response: httpx.Response) -> str:
    """The server's own error text, from the usual JSON shapes, on one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            error = error.get("message") or error
        if isinstance(error, str) and error.strip():
            return error.strip().splitlines()[0][:300]
        if "message" in body:
            return str(body["message"]).strip().splitlines()[0][:300]
    return str(body)[:300]


def body_preview(response: httpx.Response, limit: int = 80) -> str:
    """What the server sent, for an error: its content type and first bytes."""
    content_type = response.headers.get("content-type", "no content type").split(";")[0].strip()
    return f"{content_type}, {len(response.content)} bytes: {response.content[:limit]!r}"


def completion_json(response: httpx.Response) -> dict[str, Any]:
    """The completion's JSON object; `MalformedCompletion` saying what came back when it is not one."""
    try:
        data = response.json()
    except ValueError:
        raise MalformedCompletion(f"malformed completion: not JSON ({body_preview(response)})") from None
    if not isinstance(data, dict):
        raise MalformedCompletion(f"malformed completion: JSON {type(data).__name__}, not an object "
                                  f"({body_preview(response)})")
    return data


def completion_choice(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The first choice and its text; `MalformedCompletion` when there is none (`choices: []`,
    a choice without `text` or `message.content`). An empty text is a text: the caller decides."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        shown = "missing" if choices is None else json_preview(choices)
        raise MalformedCompletion(f"malformed completion: choices {shown} (body {json_preview(data)})")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedCompletion(f"malformed completion: choice {json_preview(choice)}")
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    if not isinstance(text, str):
        raise MalformedCompletion(f"malformed completion: choice without text or message content "
                                  f"({json_preview(choice)})")
    return choice, text


def json_preview(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def check_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    message = error_message(response)
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("retry-after")
        try:
            seconds = float(retry_after) if retry_after is not None else None
        except ValueError:
            seconds = None
        raise RetryableStatus(response.status_code, message, seconds)
    raise RequestRejected(f"HTTP {response.status_code}: {message}")


def resolve_api_key(model: ModelConfig) -> str:
    """The key from the environment variable the entry names; "EMPTY" when it names none."""
    if not model.api_key_env:
        return "EMPTY"
    value = os.environ.get(model.api_key_env)
    if not value:
        raise BackendError(
            f"model {model.name!r}: environment variable {model.api_key_env} (api_key_env) is not set"
        )
    return value


@dataclass(frozen=True)
class ServerInfo:
    owned_by: str | None  # "vllm", "llamacpp", ... from GET /models; None if unknown
    served_models: tuple[str, ...]
    version: str | None
    kind: str | None = None  # VLLM, LLAMA_CPP, LLAMA_CPP_PYTHON; None: another server


class OpenAIBackend:
    """A model served over the OpenAI-compatible HTTP API."""

    supports_logprobs = True

    def __init__(self, model: ModelConfig) -> None:
        assert model.base_url, "validated by ModelConfig"
        self.model = model
        self.name = model.name
        self.gpus = 0  # a server's GPUs are not known from here: the entry's `gpus:` says (cost ledger)
        self.endpoints = model.base_urls  # replicas of one model: requests go to the least busy
        self.set_aside: dict[str, str] = {}  # endpoint -> why it is no longer used this run
        self._in_flight = dict.fromkeys(self.endpoints, 0)
        self.base_url = self.endpoints[0]
        self.headers = {"Authorization": f"Bearer {resolve_api_key(model)}"}
        self.template = model.chat_template_text()
        self._warned_regexes: set[str] = set()
        self.server = self._probe_endpoints()
        self.is_vllm = self.server.kind == VLLM
        self.is_llama_cpp = self.server.kind in GRAMMAR_SERVERS
        self.supports_regex = self.is_vllm or self.is_llama_cpp
        # llama.cpp reports the raw distribution's top logprobs under a grammar, not the constrained one's
        self.logprobs_follow_constraint = not self.is_llama_cpp
        if self.is_vllm and self.server.served_models and model.model not in self.server.served_models:
            served = ", ".join(self.server.served_models)
            raise BackendError(
                f"model {model.name!r}: the vLLM server at {self.base_url} serves {served}, not {model.model!r}"
            )
        self.engine = self._engine_name()
        self.stop_token_ids = self._stop_token_ids() if self.is_vllm else []

    # --- server discovery -------------------------------------------------------------------

    def _probe_endpoints(self) -> ServerInfo:
        """Probe each endpoint; one that is down is set aside. The first live one describes the server."""
        if len(self.endpoints) == 1:
            return self._probe()
        found: ServerInfo | None = None
        first_live = None
        for endpoint in self.endpoints:
            self.base_url = endpoint
            try:
                info = self._probe()
            except BackendError as exc:
                self._set_aside(endpoint, str(exc))
                continue
            if found is None:
                found, first_live = info, endpoint
        if found is None or first_live is None:
            raise self._all_down()
        self.base_url = first_live
        return found

    def _set_aside(self, endpoint: str, why: str) -> None:
        if endpoint in self.set_aside:
            return
        self.set_aside[endpoint] = why
        left = len(self.endpoints) - len(self.set_aside)
        log.warning("model %r: endpoint %s set aside for the rest of the run (%s); %d endpoint(s) left",
                    self.name, endpoint, why, left)

    def _all_down(self) -> BackendError:
        return BackendError(f"model {self.name!r}: every endpoint failed: " + "; ".join(
            f"{endpoint} ({self.set_aside.get(endpoint, 'unknown')})" for endpoint in self.endpoints))

    def _pick_endpoint(self) -> str:
        """The live endpoint with the fewest requests in flight (BackendError when none is left)."""
        live = [endpoint for endpoint in self.endpoints if endpoint not in self.set_aside]
        if not live:
            raise self._all_down()
        return min(live, key=lambda endpoint: self._in_flight[endpoint])

    def _sync_retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self.model.max_retries + 1),
            wait=backoff(),
            reraise=True,
        )

    def _probe(self) -> ServerInfo:
        url = f"{self.base_url}/models"
        try:
            with httpx.Client(timeout=min(self.model.timeout, 30.0), headers=self.headers) as client:
                for attempt in self._sync_retrying():
                    with attempt:
                        response = client.get(url)
                        if response.status_code == 429 or response.status_code >= 500:
                            check_status(response)
        except (httpx.HTTPError, RetryableStatus) as exc:
            raise BackendError(
                f"model {self.name!r}: server at {self.base_url} unreachable after "
                f"{self.model.max_retries + 1} attempt(s) ({one_line(exc)})"
            ) from None
        if response.status_code in (401, 403):
            raise BackendError(
                f"model {self.name!r}: server at {self.base_url} refused the API key "
                f"(HTTP {response.status_code}: {error_message(response)})"
            )
        if response.status_code != 200:  # no /models: fine, though only a llama-server can be told apart
            kind, version = self._identify(None)
            return ServerInfo(owned_by=None, served_models=(), version=version, kind=kind)
        try:
            entries = response.json().get("data") or []
        except (ValueError, AttributeError):
            entries = []
        owners = {e.get("owned_by") for e in entries if isinstance(e, dict)}
        owned_by = owners.pop() if len(owners) == 1 else None
        served = tuple(str(e.get("id")) for e in entries if isinstance(e, dict) and e.get("id"))
        kind, version = self._identify(owned_by)
        return ServerInfo(owned_by=owned_by, served_models=served, version=version, kind=kind)

    def _identify(self, owned_by: str | None) -> tuple[str | None, str | None]:
        """Which server this is (for its extra parameters) and its version, where it says."""
        if owned_by == "vllm":
            return VLLM, self._vllm_version()
        if owned_by == "me":  # llama-cpp-python's constant; confirmed by its OpenAPI title
            info = self._get_json(f"{self.server_root}/openapi.json").get("info")
            if isinstance(info, dict) and "llama.cpp" in str(info.get("title", "")):
                return LLAMA_CPP_PYTHON, str(info.get("version")) if info.get("version") else None
        if owned_by in ("llamacpp", None):
            props = self._get_json(f"{self.server_root}/props")
            if owned_by == "llamacpp" or "default_generation_settings" in props:
                return LLAMA_CPP, str(props["build_info"]) if props.get("build_info") else None
        return None, None

    def _get_json(self, url: str) -> dict[str, Any]:
        """A JSON object from a GET, or {} when there is none (a probe, never an error)."""
        try:
            response = httpx.get(url, headers=self.headers, timeout=10)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

    @property
    def server_root(self) -> str:
        """The server's root URL: vLLM's /version and /tokenize live outside /v1."""
        return self.base_url.removesuffix("/v1")

    def _vllm_version(self) -> str | None:
        version = self._get_json(f"{self.server_root}/version").get("version")
        return str(version) if version else None

    def _engine_name(self) -> str:
        if self.is_vllm:
            return f"vllm {self.server.version or '?'} (openai server)"
        if self.server.kind == LLAMA_CPP_PYTHON:
            return f"llama-cpp-python {self.server.version or '?'} (openai server)"
        if self.server.kind == LLAMA_CPP:
            return f"llama.cpp {self.server.version or '?'} (llama-server)"
        return f"openai-compatible ({self.server.owned_by})" if self.server.owned_by else "openai-compatible"

    def _stop_token_ids(self) -> list[int]:
        """Stop strings that are one token (special tokens such as <|eot_id|>) as token ids."""
        return single_token_ids(self.model.stop, self._tokenize)

    def _tokenize(self, text: str) -> list[int] | None:
        """vLLM's /tokenize of a text without special tokens; None when the server does not say."""
        try:
            response = httpx.post(
                f"{self.server_root}/tokenize", headers=self.headers, timeout=30,
                json={"model": self.model.model, "prompt": text, "add_special_tokens": False},
            )
            tokens = response.json().get("tokens") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return tokens if isinstance(tokens, list) else None

    # --- requests ---------------------------------------------------------------------------

    def request_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint path and JSON body for one request."""
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.model.model,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if self.is_llama_cpp:
            body.update(self._llama_cpp_options(request))
        elif sampling.top_k != -1:
            body["top_k"] = sampling.top_k
        if sampling.repetition_penalty != 1.0 and not self.is_llama_cpp:
            body["repetition_penalty"] = sampling.repetition_penalty
            if not self.is_vllm:
                body["repeat_penalty"] = sampling.repetition_penalty  # LocalAI's name, as llama.cpp's
        if self.is_vllm:
            body["skip_special_tokens"] = True
            if self.stop_token_ids:
                body["stop_token_ids"] = self.stop_token_ids
            if request.regex:
                body["structured_outputs"] = {"regex": request.regex}
        if request.messages is not None and not self.template:
            body["messages"] = list(request.messages)
            if request.logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = request.logprobs
            return "/chat/completions", body
        if request.messages is not None:
            body["prompt"] = render_chat_template(self.template or "", request.messages)
        else:
            body["prompt"] = request.prompt
        if request.logprobs:
            body["logprobs"] = request.logprobs
        return "/completions", body

    def _llama_cpp_options(self, request: GenerationRequest) -> dict[str, Any]:
        """Sampling under llama.cpp's names, every one sent (its defaults differ), and a grammar."""
        sampling = request.sampling
        options: dict[str, Any] = {
            "top_k": max(sampling.top_k, 0),  # 0 disables top-k in llama.cpp
            "repeat_penalty": sampling.repetition_penalty,
            "min_p": 0.0,
        }
        if request.regex:
            grammar = self._grammar(request.regex)
            if grammar is not None:
                options["grammar"] = grammar
        return options

    def _grammar(self, regex: str) -> str | None:
        try:
            return regex_to_gbnf(regex, max_repetition=LLAMA_CPP_MAX_REPETITION)
        except UnsupportedRegex as exc:
            if regex not in self._warned_regexes:
                self._warned_regexes.add(regex)
                log.warning("model %r: cannot constrain llama.cpp's output to this regex (%s); "
                            "sending the request unconstrained", self.name, exc)
            return None

    def parse_response(self, request: GenerationRequest, data: dict[str, Any]) -> GenerationResult:
        """A completion's result; `MalformedCompletion` when the body is not a completion."""
        choice, text = completion_choice(data)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return GenerationResult(
            key=request.key,
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            engine=self.engine,
            top_logprobs=parse_top_logprobs(choice.get("logprobs")) if request.logprobs else None,
        )

    async def _complete(self, client: httpx.AsyncClient, request: GenerationRequest) -> GenerationResult:
        """One request with retries, on the least busy live endpoint; an endpoint that fails its
        retries (unreachable, repeated 5xx) is set aside and the request goes to another. Raises
        only when every endpoint is down."""
        try:
            path, body = self.request_body(request)
        except Exception as exc:  # a template that fails to render
            return GenerationResult(key=request.key, error=f"chat template: {one_line(exc)}")
        while True:
            endpoint = self._pick_endpoint()
            self._in_flight[endpoint] += 1
            try:
                return await self._complete_at(client, request, endpoint, path, body)
            except _EndpointDown as exc:
                self._set_aside(endpoint, str(exc))
            finally:
                self._in_flight[endpoint] -= 1

    async def _complete_at(self, client: httpx.AsyncClient, request: GenerationRequest, endpoint: str,
                           path: str, body: dict[str, Any]) -> GenerationResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self.model.max_retries + 1),
            wait=backoff(),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    started = time.perf_counter()
                    response = await client.post(f"{endpoint}{path}", json=body)
                    check_status(response)
                    result = self.parse_response(request, completion_json(response))
                    result.latency_s = time.perf_counter() - started
                    return result
        except Exception as exc:
            if len(self.endpoints) > 1 and (is_unreachable(exc) or isinstance(exc, RetryableStatus)):
                raise _EndpointDown(f"{one_line(exc)} after {self.model.max_retries + 1} attempt(s)") from None
            if is_unreachable(exc):
                raise BackendError(
                    f"model {self.name!r}: server at {endpoint} unreachable after "
                    f"{self.model.max_retries + 1} attempt(s) ({one_line(exc)})"
                ) from None
            attempts = "" if isinstance(exc, RequestRejected) else f" after {self.model.max_retries + 1} attempt(s)"
            return GenerationResult(key=request.key, engine=self.engine, error=f"{one_line(exc)}{attempts}")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run(self, requests: Sequence[GenerationRequest], deliver: Callable[[Any], None]) -> None:
        concurrency = self.model.max_concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        pending = iter(requests)
        async with httpx.AsyncClient(timeout=self.model.timeout, headers=self.headers, limits=limits) as client:

            async def worker() -> None:
                for request in pending:  # shared iterator: each request is taken once
                    deliver(await self._complete(client, request))

            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(requests))):
                    group.create_task(worker())

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[GenerationResult]:
        """Yield each result as soon as its request finishes (in completion order)."""
        if not requests:
            return
        results: queue.Queue[Any] = queue.Queue()
        loop = asyncio.new_event_loop()
        done = object()

        def run() -> None:
            try:
                loop.run_until_complete(self._run(requests, results.put))
            except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
                results.put(exc)
            finally:
                results.put(done)

        thread = threading.Thread(target=run, name=f"arena-http-{self.name}", daemon=True)
        thread.start()
        try:
            while True:
                item = results.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise unwrap(item)
                yield item
        finally:
            if thread.is_alive():
                try:
                    loop.call_soon_threadsafe(_cancel_all_tasks, loop)
                except RuntimeError:
                    pass  # the loop already finished
            thread.join(timeout=30)
            if not thread.is_alive():
                loop.close()

    def close(self) -> None:
        """Nothing to release: each `generate` call opens and closes its own connections."""


class _EndpointDown(Exception):
    """One endpoint of several failed its retries: set it aside, send the request elsewhere."""


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def unwrap(exc: BaseException) -> BaseException:
    """The first real error inside a TaskGroup's ExceptionGroup."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return BackendError("requests cancelled")
    return BackendError(one_line(exc))


def parse_top_logprobs(logprobs: Any) -> list[dict[str, float]] | None:
    """Per generated token, {token text: logprob}, from /completions or /chat/completions."""
    if not isinstance(logprobs, dict):
        return None
    if isinstance(logprobs.get("content"), list):  # chat shape
        parsed = []
        for item in logprobs["content"]:
            tops = {t["token"]: float(t["logprob"]) for t in item.get("top_logprobs") or []}
            tops.setdefault(item["token"], float(item["logprob"]))
            parsed.append(tops)
        return parsed
    if isinstance(logprobs.get("top_logprobs"), list):  # completions shape
        return [{k: float(v) for k, v in (d or {}).items()} for d in logprobs["top_logprobs"]]
    return None
