"""The one backend interface: generation requests in, texts out; and what every backend shares.

Candidates and the judge both go through it. A request is either chat `messages` (rendered
with the model's chat template) or a raw `prompt` string sent as is (the judge renders its own
Mistral `[INST]` prompt to match how it was trained).

`SamplingSettings` is the one sampling type of the core: the project file's pydantic `Sampling`
becomes one at the edge (`ModelConfig.sampling_settings`), and each backend maps it to its
library's parameters once. The helpers below are shared by the backends: an exception as one
line, which stop strings are single tokens, rendering a chat template, and where a model entry
names a local path.

This module imports nothing else from arena, so the project file's types may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample one generation. These defaults are a candidate's (`arena.yaml`'s `sampling`)."""

    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = -1  # -1 disables top-k
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


# --- helpers every backend uses -----------------------------------------------------------------


def held_gpus(backend: object, declared: int | None = None) -> int:
    """The GPUs a run on this backend holds, for the cost ledger: the entry's `gpus:` when set,
    else the backend's own count (its `gpus` attribute; none: 0, a CPU route)."""
    if declared is not None:
        return declared
    return int(getattr(backend, "gpus", 0) or 0)


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message ("" when it has none)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def one_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`, for one-line errors."""
    line = first_line(exc)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


LOCAL_PREFIXES = ("/", "./", "../", "~")


def local_path(name: str) -> Path | None:
    """The local path a `model` or `tokenizer` entry names (it starts with /, ./, ../ or ~, which
    is expanded); None for a hub id or a server's model name."""
    return Path(name).expanduser() if name.startswith(LOCAL_PREFIXES) else None


def model_location(name: str) -> str:
    """What to hand a loading library: a local path with `~` expanded, a hub id as it is."""
    path = local_path(name)
    return str(path) if path is not None else name


def single_token_ids(stops: Iterable[str], encode: Callable[[str], Sequence[int] | None]) -> list[int]:
    """The token ids of the stop strings that are one token each, in order.

    Engines match stop strings against text with special tokens removed, so a special token such
    as `<|eot_id|>` stops generation only when it is also a stop token id. `encode` gives a
    text's token ids without special tokens added (None when they cannot be had).
    """
    ids: list[int] = []
    for text in stops:
        encoded = encode(text)
        if encoded is not None and len(encoded) == 1:
            ids.append(int(encoded[0]))
    return ids


def render_chat_template(template: str, messages: Sequence[dict[str, str]], bos_token: str = "",
                         eos_token: str = "") -> str:
    """Render a Hugging Face-style Jinja chat template, as transformers does.

    `bos_token` renders empty by default: a server adds BOS itself when it tokenizes a completion
    prompt. Backends that tokenize the prompt themselves (OpenVINO) pass the model's tokens.
    """
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    return environment.from_string(template).render(
        messages=list(messages), add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
    )
