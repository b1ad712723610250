"""A scripted OpenAI-compatible server on a real loopback socket, for backend tests only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A handler gets (path, JSON body or None) and returns (status, JSON body, extra headers).
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class FakeServer:
    owned_by: str | None = "vllm"
    served: tuple[str, ...] = ("tiny",)
    # llama.cpp's llama-server answers GET /props; llama-cpp-python's FastAPI app GET /openapi.json
    props: dict[str, Any] | None = None
    openapi_title: str | None = None
    # per-path scripted replies, consumed in order; when empty, `default` answers
    script: dict[str, list[Reply]] = field(default_factory=dict)
    default: Callable[[str, Any], Reply] | None = None
    delay_s: Callable[[Any], float] = lambda body: 0.0
    requests: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, path: str, body: Any) -> Reply:
        if path.endswith("/models"):
            if self.owned_by is None:
                return 404, {"error": "not found"}, {}
            data = [{"id": name, "object": "model", "owned_by": self.owned_by} for name in self.served]
            return 200, {"object": "list", "data": data}, {}
        if path == "/version":
            return 200, {"version": "0.32.0"}, {}
        if path == "/props":
            return (200, self.props, {}) if self.props is not None else (404, {"error": "not found"}, {})
        if path == "/openapi.json":
            if self.openapi_title is None:
                return 404, {"error": "not found"}, {}
            return 200, {"openapi": "3.1.0", "info": {"title": self.openapi_title, "version": "0.3.36"}}, {}
        if path == "/tokenize":
            prompt = body["prompt"]
            tokens = [99] if prompt.startswith("<|") else list(range(len(prompt)))
            return 200, {"tokens": tokens, "count": len(tokens)}, {}
        with self.lock:
            queue = self.script.get(path)
            if queue:
                return queue.pop(0)
        if self.default is not None:
            return self.default(path, body)
        return completion_reply(path, body)

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with server.lock:
                    server.requests.append((self.path, body, dict(self.headers)))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s(body))
                    status, payload, headers = server.reply(self.path.removeprefix("/v1") if self.path.startswith("/v1") else self.path, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def generation_requests(self) -> list[tuple[str, Any, dict[str, str]]]:
        return [r for r in self.requests if r[0].endswith("completions")]


def completion_reply(path: str, body: Any) -> Reply:
    """An echo: the answer names what was asked, so tests can match results to requests."""
    asked = body.get("prompt") if "prompt" in body else body["messages"][-1]["content"]
    text = f"answer to {asked}"
    usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    if path.endswith("/chat/completions"):
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [
                {"token": "A", "logprob": -0.1, "top_logprobs": [{"token": "A", "logprob": -0.1},
                                                                 {"token": "B", "logprob": -2.5}]},
            ]}
    else:
        choice = {"index": 0, "text": text, "finish_reason": "length" if body["max_tokens"] <= 5 else "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"tokens": ["A"], "token_logprobs": [-0.1],
                                  "top_logprobs": [{"A": -0.1, "B": -2.5}]}
    return 200, {"id": "x", "object": "text_completion", "choices": [choice], "usage": usage}, {}
