"""The one backend interface: generation requests in, texts out.

Candidates and the judge both go through it. A request is either chat `messages` (rendered
with the model's chat template) or a raw `prompt` string sent as is (the judge renders its own
Mistral `[INST]` prompt to match how it was trained).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. `key` is the caller's id, echoed back on the result."""

    key: str
    sampling: SamplingSettings
    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None
    # constrain the output to this regular expression, where the backend supports it
    regex: str | None = None
    # ask for this many top logprobs per generated token, where the backend supports it
    logprobs: int | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a request needs exactly one of messages or prompt")


@dataclass
class GenerationResult:
    key: str
    text: str = ""
    finish_reason: str | None = None  # "stop", "length", or the backend's word
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    engine: str | None = None
    error: str | None = None  # set when this request failed; the text is then meaningless
    # per generated token: {token text: logprob} of the top candidates, when asked for
    top_logprobs: list[dict[str, float]] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Backend(Protocol):
    """A loaded model or a connection to a server."""

    name: str
    supports_regex: bool
    supports_logprobs: bool

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[GenerationResult]:
        """Yield one result per request, in any order, as soon as each is finished."""
        ...

    def close(self) -> None:
        """Release the model or connections (GPU memory, sockets)."""
        ...
