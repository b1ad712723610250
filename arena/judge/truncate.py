"""Fitting two answers into the judge's context, token-aware, keeping the start of each.

Prometheus 2 was trained at 4,096 tokens. The whole prompt plus `max_tokens` of output must fit,
so when the two answers are too long together they are shortened: a short answer keeps all of
its text and the long one gets the rest of the room (or both get half). Both orders of a pair use
the same shortened texts. Counting uses the judge's own tokenizer when it can be loaded from
local files; otherwise a conservative estimate of characters per token, announced once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from arena.backends.base import model_location
from arena.config import JudgeConfig
from arena.judge.prompt import PromptParts

log = logging.getLogger(__name__)

TRUNCATION_NOTE = " ...(truncated)"
# token counts of joined parts can differ from the sum of the parts' counts at each seam
_SEAM_MARGIN = 8
_BOS = 1
MIN_ANSWER_TOKENS = 16
ESTIMATE_CHARS_PER_TOKEN = 3.0


class TokenCounter(Protocol):
    name: str
    special_tokens: tuple[str, ...]

    def count(self, text: str) -> int: ...

    def count_many(self, texts: list[str]) -> list[int]: ...

    def head(self, text: str, tokens: int) -> str:
        """The longest start of `text` that is at most `tokens` tokens."""
        ...


class HfTokenCounter:
    """Counting with the judge's own tokenizer."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.special_tokens = tuple(getattr(tokenizer, "all_special_tokens", ()) or ())

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count(text) for text in texts]

    def head(self, text: str, tokens: int) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= tokens:
            return text
        return self.tokenizer.decode(ids[: max(0, tokens)]).rstrip("\ufffd")


class FastTokenCounter:
    """A local `tokenizer.json` read with the `tokenizers` library: quick to load, batched counts."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(path))
        self.name = str(path.parent)
        added = self.tokenizer.get_added_tokens_decoder().values()
        self.special_tokens = tuple(token.content for token in added if token.special)

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def head(self, text: str, tokens: int) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if len(ids) <= tokens:
            return text
        return self.tokenizer.decode(ids[: max(0, tokens)], skip_special_tokens=False).rstrip("\ufffd")


class EstimatedTokenCounter:
    """No tokenizer available: assume few characters per token, so estimates err long."""

    name = f"estimate ({ESTIMATE_CHARS_PER_TOKEN:g} characters per token)"
    special_tokens: tuple[str, ...] = ()

    def count(self, text: str) -> int:
        return math.ceil(len(text) / ESTIMATE_CHARS_PER_TOKEN)

    def count_many(self, texts: list[str]) -> list[int]:
        return [self.count(text) for text in texts]

    def head(self, text: str, tokens: int) -> str:
        return text[: max(0, int(tokens * ESTIMATE_CHARS_PER_TOKEN))]


def load_token_counter(judge: JudgeConfig) -> TokenCounter:
    """The judge's tokenizer from local files (its `tokenizer`, else `model`: a folder, or a GGUF
    file's own tokenizer, read with the gguf package), or the estimate."""
    source = judge.tokenizer or judge.model
    folder = Path(model_location(source))
    if (folder / "tokenizer.json").is_file():
        try:
            return FastTokenCounter(folder / "tokenizer.json")
        except Exception:  # noqa: BLE001 - fall through to transformers, which reads more formats
            pass
    try:
        from transformers import AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": True}
        location = Path(model_location(source))
        if location.is_file() and location.suffix.lower() == ".gguf":  # the GGUF's own tokenizer
            kwargs["gguf_file"] = location.name
            source = str(location.parent)
        elif judge.revision and not location.is_dir():
            kwargs["revision"] = judge.revision
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        return HfTokenCounter(tokenizer, name=str(source))
    except Exception as exc:  # noqa: BLE001 - any failure means: no local tokenizer
        log.warning(
            "judge tokenizer %r is not available locally (%s); estimating %g characters per token "
            "to fit answers into the judge's context", source, type(exc).__name__, ESTIMATE_CHARS_PER_TOKEN,
        )
        return EstimatedTokenCounter()


@dataclass(frozen=True)
class FittedAnswers:
    x: str
    y: str
    truncated: bool


class PromptTooLong(Exception):
    """The question, rubric and reference alone leave no room for the answers."""


def prompt_budget(judge: JudgeConfig) -> int:
    """Tokens the prompt may take: the judge's context minus room for its output."""
    context = judge.context_length
    if judge.max_model_len:
        context = min(context, judge.max_model_len)
    return context - judge.sampling.max_tokens


def _shares(length_x: int, length_y: int, room: int) -> tuple[int, int]:
    """Token allowances for two answers: a short one keeps all, the long one gets the rest."""
    half = room // 2
    if length_x <= half:
        return length_x, room - length_x
    if length_y <= room - half:
        return room - length_y, length_y
    return room - half, half


def fixed_tokens(parts: PromptParts, counter: TokenCounter) -> int:
    """Tokens of the prompt without the two answers."""
    return counter.count(parts.head) + counter.count(parts.middle) + counter.count(parts.tail)


def fit_answers(parts: PromptParts, x: str, y: str, x_tokens: int, y_tokens: int,
                counter: TokenCounter, budget: int, fixed: int | None = None) -> FittedAnswers:
    """Shorten X and Y (token counts given) so the prompt fits in `budget` tokens.

    `fixed` is `fixed_tokens(parts, counter)`, when the caller has it already.
    """
    fixed = fixed_tokens(parts, counter) if fixed is None else fixed
    room = budget - fixed - _BOS - _SEAM_MARGIN
    if x_tokens + y_tokens <= room:
        return FittedAnswers(x=x, y=y, truncated=False)
    note = counter.count(TRUNCATION_NOTE)
    if room < 2 * (MIN_ANSWER_TOKENS + note):
        raise PromptTooLong(
            f"the prompt without answers takes {fixed} tokens of the judge's {budget}-token budget"
        )
    share_x, share_y = _shares(x_tokens, y_tokens, room)
    fitted_x = x if x_tokens <= share_x else counter.head(x, share_x - note).rstrip() + TRUNCATION_NOTE
    fitted_y = y if y_tokens <= share_y else counter.head(y, share_y - note).rstrip() + TRUNCATION_NOTE
    return FittedAnswers(x=fitted_x, y=fitted_y, truncated=True)
