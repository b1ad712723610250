"""An answer's style: its length in tokens and its markdown density (headers, list items, bold).

These are the covariates of LMArena's style control, counted as arena-hard-auto counts them
(`utils/add_markdown_info.py`): fenced code blocks are removed first, then headers are lines
starting with one to six `#` and a space, list items are lines starting (after indentation) with
`-`, `*`, `+` or a number and a dot, and bold spans are `**text**` or `__text__` on one line.
The length is the answer's completion tokens as its backend reported them (None when unknown).

They are counted once, when an answer is stored (answers.headers, .list_items, .bold beside
completion_tokens), so rating a million battles never re-reads an answer's text; imported
battles, which have no answers here, carry them on the battle row (battles.answer_a_headers, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STYLE_NAMES = ("tokens", "headers", "list_items", "bold")  # AnswerStyle's fields; battle columns answer_a_<name>
_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED_ITEM = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


@dataclass(frozen=True)
class AnswerStyle:
    tokens: int | None  # completion tokens; None when the backend did not report them
    headers: int
    list_items: int
    bold: int


def answer_style(text: str, completion_tokens: int | None) -> AnswerStyle:
    """The style covariates of one answer."""
    prose = _CODE_BLOCK.sub("", text)
    return AnswerStyle(
        tokens=completion_tokens,
        headers=len(_HEADER.findall(prose)),
        list_items=len(_ORDERED_ITEM.findall(prose)) + len(_UNORDERED_ITEM.findall(prose)),
        bold=len(_BOLD_STARS.findall(prose)) + len(_BOLD_UNDERSCORES.findall(prose)),
    )

