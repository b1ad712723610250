"""A scripted OpenAI-compatible HTTP server, for tests only.

It answers `POST /v1/completions`, `POST /v1/chat/completions` and `GET /v1/models` on a free
loopback port, in a background thread. What it replies is decided by the test's `script`:

    def script(prompt: str) -> str | ScriptedReply: ...

    with ScriptedServer(script) as server:
        config = ... base_url=server.base_url ...   # "http://127.0.0.1:PORT/v1"
        ...
        assert len(server.requests) == 4

`prompt` is the raw prompt of a completion request, or the contents of a chat request's
messages joined by blank lines. `server.requests` records every generation request as
`ScriptedRequest(path, body, prompt)`, in arrival order. `owned_by` in the models list is
"scripted" (not "vllm"), so clients must not assume structured outputs are available.

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


@dataclass(frozen=True)
class ScriptedRequest:
    path: str
    body: dict[str, Any]
    prompt: str


Script = Callable[[str], "str | ScriptedReply"]


@dataclass
class ScriptedServer:
    script: Script
    model: str = "scripted"
    owned_by: str = "scripted"
    delay_s: float = 0.0
    requests: list[ScriptedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
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

    def __enter__(self) -> ScriptedServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _record(self, request: ScriptedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def reply_to(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | ScriptedReply]:
        prompt = _prompt_of(path, body)
        self._record(ScriptedRequest(path=path, body=body, prompt=prompt))
        if self.delay_s:
            time.sleep(self.delay_s)
        reply = self.script(prompt)
        if isinstance(reply, str):
            reply = ScriptedReply(text=reply)
        if reply.raw_body is not None:
            return reply.status, reply
        if reply.status != 200:
            return reply.status, {"error": {"message": reply.text or "scripted error", "code": reply.status}}
        return 200, _completion_body(path, body, reply, self.model)


def _prompt_of(path: str, body: dict[str, Any]) -> str:
    if path.endswith("/chat/completions"):
        return "\n\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    prompt = body.get("prompt", "")
    return prompt[0] if isinstance(prompt, list) and prompt else str(prompt)


def _completion_body(path: str, body: dict[str, Any], reply: ScriptedReply, model: str) -> dict[str, Any]:
    prompt_tokens = len(_prompt_of(path, body).split())
    completion_tokens = len(reply.logprobs) if reply.logprobs else max(1, len(reply.text.split()))
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
    return {"tokens": tokens, "token_logprobs": [top.get(tok, -1.0) for tok, top in zip(tokens, tops, strict=False)],
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

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            return

        def _send(self, status: int, payload: dict[str, Any] | ScriptedReply) -> None:
            content_type = "application/json"
            if isinstance(payload, ScriptedReply):  # a raw body, sent as it is
                data, content_type = (payload.raw_body or "").encode("utf-8"), payload.content_type
            else:
                data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": 0, "owned_by": server.owned_by}
                ]})
            elif self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "malformed JSON"}})
                return
            path = self.path.rstrip("/")
            if path not in ("/v1/completions", "/v1/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            payload: dict[str, Any] | ScriptedReply
            try:
                status, payload = server.reply_to(path, body)
            except Exception as exc:  # a broken script is a test bug: answer 500 and say why
                status, payload = 500, {"error": {"message": f"script failed: {exc!r}"}}
            self._send(status, payload)

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
