"""A backend that answers from a script, in this process: the test double of `Backend`.

For tests and benchmarks only: `arena.yaml` cannot name it (its `backend` field does not accept
"scripted"), and nothing in the product makes one. A script is a function of the request's text
(a raw prompt, or a chat request's message contents joined by blank lines, as the test suite's
fake OpenAI-compatible server sees them) or, given as `on_request=`, of the request itself; it
returns the text or a `ScriptedReply`. The same replies script the fake server.

    judge = ScriptedBackend(lambda prompt: "Both were weighed. [RESULT] A")
    candidates = ScriptedBackend.factory(lambda request: f"an answer to {request.key}")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arena.backends.base import GenerationRequest, GenerationResult

if TYPE_CHECKING:
    from arena.config import ModelConfig


@dataclass(frozen=True)
class ScriptedReply:
    """A reply with more than text: finish reason, token counts, per-token top logprobs, or an error."""

    text: str = ""
    finish_reason: str = "stop"
    # per generated token: (token text, {candidate token: logprob})
    logprobs: tuple[tuple[str, dict[str, float]], ...] | None = None
    status: int = 200  # not 200: the request fails ("HTTP <status>: <text>"; the fake server answers so)
    prompt_tokens: int | None = None  # None: one per word of the request's text
    completion_tokens: int | None = None  # None: one per word of the text
    latency_s: float = 0.0
    # a misbehaving server: the fake server sends this body verbatim (with `content_type`) instead
    # of a completion; the in-process backend fails the request as a malformed completion
    raw_body: str | None = None
    content_type: str = "application/json"


Reply = str | ScriptedReply
TextScript = Callable[[str], Reply]
RequestScript = Callable[[GenerationRequest], Reply]


def request_text(request: GenerationRequest) -> str:
    """What a script reads: the raw prompt, or a chat request's message contents joined by blank lines."""
    if request.prompt is not None:
        return request.prompt
    return "\n\n".join(str(message.get("content", "")) for message in request.messages or ())


def _on_text(script: TextScript) -> RequestScript:
    return lambda request: script(request_text(request))


class ScriptedBackend:
    """Answers each request with its script's reply, all at once, in request order.

    `calls` records every `generate` call's requests; after `die_after` results a call raises,
    as a crashing engine does; `close()` sets `closed`. `gpus` is the count the cost ledger reads.
    """

    def __init__(self, script: TextScript | None = None, name: str = "scripted", *,
                 on_request: RequestScript | None = None, supports_regex: bool = False,
                 supports_logprobs: bool = False, die_after: int | None = None, engine: str = "scripted",
                 gpus: int = 0) -> None:
        if (script is None) == (on_request is None):
            raise ValueError("a scripted backend needs one script: of the request's text or of the request")
        if on_request is None:
            assert script is not None
            on_request = _on_text(script)
        self._reply = on_request
        self.name = name
        self.supports_regex = supports_regex
        self.supports_logprobs = supports_logprobs
        self.die_after = die_after
        self.engine = engine
        self.gpus = gpus
        self.calls: list[list[GenerationRequest]] = []
        self.closed = False

    @classmethod
    def factory(cls, on_request: RequestScript, made: list[ScriptedBackend] | None = None, *,
                die_after: int | None = None, engine: str = "scripted",
                gpus: int = 0) -> Callable[[ModelConfig], ScriptedBackend]:
        """`run_generate`'s backend factory: one backend per model entry, named after it, whose
        script reads the request; each one made is appended to `made`."""
        def make(model: ModelConfig) -> ScriptedBackend:
            backend = cls(name=model.name, on_request=on_request, die_after=die_after, engine=engine, gpus=gpus)
            if made is not None:
                made.append(backend)
            return backend

        return make

    @property
    def requests(self) -> list[GenerationRequest]:
        return [request for call in self.calls for request in call]

    @property
    def prompts(self) -> list[str]:
        return [request_text(request) for request in self.requests]

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[GenerationResult]:
        self.calls.append(list(requests))
        for count, request in enumerate(requests):
            if self.die_after is not None and count >= self.die_after:
                raise RuntimeError("engine crashed\nlong traceback")
            yield self.result(request, self._reply(request))

    def result(self, request: GenerationRequest, reply: Reply) -> GenerationResult:
        if isinstance(reply, str):
            reply = ScriptedReply(text=reply)
        if reply.status != 200:
            return GenerationResult(key=request.key, engine=self.engine,
                                    error=f"HTTP {reply.status}: {reply.text or 'scripted error'}")
        if reply.raw_body is not None:
            return GenerationResult(key=request.key, engine=self.engine,
                                    error=f"malformed completion ({reply.content_type}): {reply.raw_body[:80]!r}")
        logprobs = [dict(top) for _, top in reply.logprobs] if reply.logprobs and request.logprobs else None
        return GenerationResult(
            key=request.key, text=reply.text, finish_reason=reply.finish_reason,
            prompt_tokens=reply.prompt_tokens if reply.prompt_tokens is not None
            else max(1, len(request_text(request).split())), latency_s=reply.latency_s, engine=self.engine, top_logprobs=logprobs,
            completion_tokens=reply.completion_tokens if reply.completion_tokens is not None
            else max(1, len(reply.text.split())),
        )

    def close(self) -> None:
        self.closed = True
