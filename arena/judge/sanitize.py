"""Neutralise candidate answers before they go into the judge's prompt.

Answers are untrusted input to the judge. Text that could steer it is rewritten so it still
reads the same to a human but no longer has the shape the judge or its tokenizer acts on:
- `[RESULT]` markers (the judge's verdict syntax) become `(RESULT)`;
- lines starting with `###` (the prompt's own section headers) start with `##` instead;
- chat special tokens (`[INST]`, `[/INST]`, `<s>`, `</s>`, `<|im_start|>`, `<|eot_id|>`, ...)
  lose their brackets, so a tokenizer cannot read them as control tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RESULT_MARKER = re.compile(r"\[\s*RESULT\s*\]", re.IGNORECASE)
_SECTION_HEADER = re.compile(r"^([ \t]*)#{3,}", re.MULTILINE)
_INST_TOKEN = re.compile(r"\[\s*(/?)\s*INST\s*\]", re.IGNORECASE)
_SENTENCE_TOKEN = re.compile(r"<\s*(/?)\s*s\s*>", re.IGNORECASE)
_PIPE_TOKEN = re.compile(r"<\|\s*([^|<>\s]{1,60})\s*\|>")
_MAX_PASSES = 5


def _neutralise_special(text: str, extra_tokens: Iterable[str]) -> str:
    text = _INST_TOKEN.sub(lambda m: f"({m.group(1)}INST)", text)
    text = _SENTENCE_TOKEN.sub(lambda m: f"({m.group(1)}s)", text)
    text = _PIPE_TOKEN.sub(lambda m: f"({m.group(1)})", text)
    for token in extra_tokens:
        if token and token in text:
            text = text.replace(token, token.replace("<", "(").replace(">", ")").replace("[", "(").replace("]", ")"))
    return text


def sanitize_answer(text: str, extra_tokens: Iterable[str] = ()) -> str:
    """`text` with verdict markers, section headers and special tokens neutralised.

    Repeated until nothing changes, so removing one marker cannot assemble another.
    `extra_tokens` are more special tokens to neutralise (for example the judge tokenizer's own).
    """
    extra = tuple(t for t in extra_tokens if t and any(ch in t for ch in "<>[]"))
    for _ in range(_MAX_PASSES):
        cleaned = _RESULT_MARKER.sub("(RESULT)", text)
        cleaned = _SECTION_HEADER.sub(r"\1##", cleaned)
        cleaned = _neutralise_special(cleaned, extra)
        if cleaned == text:
            break
        text = cleaned
    return text
