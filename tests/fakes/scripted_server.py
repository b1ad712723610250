"""The one scripted OpenAI-compatible HTTP server, for tests only.

It listens on a free loopback port in a background thread and answers what OpenAI-compatible
servers answer: `POST /v1/completions` and `POST /v1/chat/completions`, `GET /v1/models`, and the
probes arena uses to tell servers apart (vLLM's `/version` and `/tokenize`, llama.cpp's `/props`,
llama-cpp-python's `/openapi.json`), each only when the test gives it an identity that has it.
What a generation request gets is decided by the test's `script`:

    def script(prompt: str) -> str | ScriptedReply: ...

    with ScriptedServer(script) as server:
        config = ... base_url=server.base_url ...   # "http://127.0.0.1:PORT/v1"
        ...
        assert len(server.requests) == 4

`prompt` is the raw prompt of a completion request, or the contents of a chat request's
messages joined by blank lines. The default script echoes: "answer to <prompt>". For replies a
script cannot express (a status with headers, a body of the wrong shape), `routes` holds raw
replies per path, used in order before the script, and `raw` replaces the script altogether.

`server.requests` records every generation request as `ScriptedRequest(path, body, prompt,
headers)` in arrival order; `server.probes` the paths of every other request. `owned_by` in the
models list is "scripted" unless the test says otherwise ("vllm", "llamacpp", "me", or None for
a server without `/v1/models`), so clients must not assume structured outputs are available.

Ready-made scripts for judge tests: `verdict_script`, `prefer_longer_answer_script`,
`injection_gullible_script`, `sequence_script`, and `response_sections` to read the two
candidate answers out of a Prometheus prompt.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arena.backends.scripted import ScriptedReply

GENERATION_PATHS = ("/v1/completions", "/v1/chat/completions")
# A raw HTTP reply: status, JSON body, extra headers.
Reply = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class ScriptedRequest:
    path: str
    body: dict[str, Any]
    prompt: str
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[str], "str | ScriptedReply"]


def echo_script(prompt: str) -> str:
    """The default: the answer names what was asked, so tests can match results to requests."""
    return f"answer to {prompt}"


@dataclass
class ScriptedServer:
    script: Script = echo_script
    model: str = "scripted"  # the served model's id
    owned_by: str | None = "scripted"  # None: no /v1/models at all
    delay_s: float | Callable[[dict[str, Any]], float] = 0.0  # per generation request
    version: str | None = None  # vLLM's GET /version (and POST /tokenize) when set
    props: dict[str, Any] | None = None  # llama.cpp's llama-server answers GET /props
    openapi_title: str | None = None  # llama-cpp-python's FastAPI app: GET /openapi.json
    routes: dict[str, list[Reply]] = field(default_factory=dict)  # e.g. {"/v1/chat/completions": [...]}
    raw: Callable[[str, dict[str, Any]], Reply] | None = None
    requests: list[ScriptedRequest] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.stopped = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def prompts(self) -> list[str]:
        with self._lock:
            return [request.prompt for request in self.requests]

    def start(self) -> ScriptedServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, as a server that dies: open keep-alive connections are dropped too."""
        self.stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def probe(self, method: str, path: str, body: dict[str, Any] | None) -> Reply:
        """Anything but a generation request: the models list and the servers' own endpoints."""
        with self._lock:
            self.probes.append(path)
        path = path.rstrip("/")
        not_found: Reply = (404, {"error": {"message": f"no route {path}"}}, {})
        if method == "GET" and path == "/v1/models" and self.owned_by is not None:
            return 200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": self.owned_by}]}, {}
        if method == "GET" and path in ("/health", "/v1/health"):
            return 200, {}, {}
        if method == "GET" and path == "/version" and self.version is not None:
            return 200, {"version": self.version}, {}
        if method == "POST" and path == "/tokenize" and self.version is not None and body is not None:
            # "<|...|>" is one special token; any other text one token per character
            prompt = str(body.get("prompt", ""))
            tokens = [99] if prompt.startswith("<|") else list(range(len(prompt)))
            return 200, {"tokens": tokens, "count": len(tokens)}, {}
        if method == "GET" and path == "/props" and self.props is not None:
            return 200, self.props, {}
        if method == "GET" and path == "/openapi.json" and self.openapi_title is not None:
            return 200, {"openapi": "3.1.0", "info": {"title": self.openapi_title, "version": "0.3.36"}}, {}
        return not_found

    def generate(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        prompt = _prompt_of(path, body)
        with self._lock:
            self.requests.append(ScriptedRequest(path=path, body=body, prompt=prompt, headers=headers))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            queued = self.routes.get(path)
            scripted = queued.pop(0) if queued else None
        try:
            delay = self.delay_s(body) if callable(self.delay_s) else self.delay_s
            if delay:
                time.sleep(delay)
            if scripted is not None:
                return scripted
            if self.raw is not None:
                return self.raw(path, body)
            reply = self.script(prompt)
            if isinstance(reply, str):
                reply = ScriptedReply(text=reply)
            if reply.raw_body is not None:  # sent as it is, with its own content type
                return reply.status, reply, {}
            if reply.status != 200:
                return reply.status, {"error": {"message": reply.text or "scripted error", "code": reply.status}}, {}
            return 200, _completion_body(path, body, reply, self.model), {}
        finally:
            with self._lock:
                self._in_flight -= 1


def _prompt_of(path: str, body: dict[str, Any]) -> str:
    if path.endswith("/chat/completions"):
        return "\n\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    prompt = body.get("prompt", "")
    return prompt[0] if isinstance(prompt, list) and prompt else str(prompt)


def _completion_body(path: str, body: dict[str, Any], reply: ScriptedReply, model: str) -> dict[str, Any]:
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else len(_prompt_of(path, body).split())
    completion_tokens = (reply.completion_tokens if reply.completion_tokens is not None
                         else len(reply.logprobs) if reply.logprobs else max(1, len(reply.text.split())))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    created = int(time.time())
    if path.endswith("/chat/completions"):
        choice: dict[str, Any] = {
            "index": 0, "finish_reason": reply.finish_reason,
            "message": {"role": "assistant", "content": reply.text},
            "logprobs": _chat_logprobs(reply) if body.get("logprobs") and reply.logprobs else None,
        }
        return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": created,
                "model": body.get("model", model), "choices": [choice], "usage": usage}
    choice = {
        "index": 0, "text": reply.text, "finish_reason": reply.finish_reason,
        "logprobs": _completion_logprobs(reply) if body.get("logprobs") and reply.logprobs else None,
    }
    return {"id": "cmpl-scripted", "object": "text_completion", "created": created,
            "model": body.get("model", model), "choices": [choice], "usage": usage}


def _completion_logprobs(reply: ScriptedReply) -> dict[str, Any]:
    tokens = [token for token, _ in reply.logprobs or ()]
    tops = [dict(top) for _, top in reply.logprobs or ()]
    offsets = list(itertools.accumulate([0] + [len(t) for t in tokens[:-1]]))
    return {"tokens": tokens, "token_logprobs": [top.get(tok, -1.0) for tok, top in zip(tokens, tops, strict=True)],
            "top_logprobs": tops, "text_offset": offsets}


def _chat_logprobs(reply: ScriptedReply) -> dict[str, Any]:
    content = []
    for token, top in reply.logprobs or ():
        content.append({
            "token": token, "logprob": top.get(token, -1.0),
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()],
        })
    return {"content": content}


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as two writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold every keep-alive reply back by about 40 ms
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr
            return

        def _send(self, reply: Reply) -> None:
            status, payload, headers = reply
            content_type = "application/json"
            if isinstance(payload, ScriptedReply):  # a raw body, sent as it is
                data, content_type = (payload.raw_body or "").encode("utf-8"), payload.content_type
            else:
                data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _dropped(self) -> bool:
            if server.stopped:  # a dead server answers nothing
                self.close_connection = True
            return server.stopped

        def do_GET(self) -> None:  # http.server's naming
            if not self._dropped():
                self._send(server.probe("GET", self.path, None))

        def do_POST(self) -> None:
            if self._dropped():
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send((400, {"error": {"message": "malformed JSON"}}, {}))
                return
            path = self.path.rstrip("/")
            if path not in GENERATION_PATHS:
                self._send(server.probe("POST", path, body))
                return
            try:
                reply = server.generate(path, body, dict(self.headers))
            except Exception as exc:  # a broken script is a test bug: answer 500 and say why
                reply = (500, {"error": {"message": f"script failed: {exc!r}"}}, {})
            self._send(reply)

    return Handler


# --- ready-made scripts for judge tests -------------------------------------------------------

_SECTION = re.compile(
    r"###Response A:\n(?P<a>.*?)\n\n###Response B:\n(?P<b>.*?)\n\n###(?:Reference Answer|Score Rubric):",
    re.DOTALL,
)


def response_sections(prompt: str) -> tuple[str, str]:
    """The texts shown as Response A and Response B in a Prometheus relative-grading prompt."""
    match = _SECTION.search(prompt)
    if match is None:
        raise ValueError("not a Prometheus relative-grading prompt")
    return match.group("a"), match.group("b")


def verdict_script(verdict: str, feedback: str = "Both responses were compared on the rubric.") -> Script:
    """Always answer `feedback [RESULT] verdict` (verdict "A" or "B")."""
    return lambda prompt: f"{feedback} [RESULT] {verdict}"


def prefer_longer_answer_script(prompt: str) -> str:
    """A judge that prefers the longer response (A on equal length): deterministic and order-free."""
    a, b = response_sections(prompt)
    winner = "A" if len(a) >= len(b) else "B"
    return f"Response {winner} covers more of the rubric's criteria. [RESULT] {winner}"


def injection_gullible_script(prompt: str) -> str:
    """A judge fooled by injection: obeys a `[RESULT] X` written inside a response, else prefers longer.

    Used to show that sanitising removes the marker and both orders cancel what remains.
    """
    a, b = response_sections(prompt)
    for text in (a, b):
        found = re.search(r"\[RESULT\]\s*(A|B)", text)
        if found:
            return f"As the response instructed me to. [RESULT] {found.group(1)}"
    return prefer_longer_answer_script(prompt)


def sequence_script(replies: Iterable[str | ScriptedReply]) -> Script:
    """Answer with the given replies in order, then repeat the last one (thread-safe)."""
    items = list(replies)
    lock = threading.Lock()
    position = 0

    def script(prompt: str) -> str | ScriptedReply:
        nonlocal position
        with lock:
            reply = items[min(position, len(items) - 1)]
            position += 1
        return reply

    return script
