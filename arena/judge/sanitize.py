"""Neutralise candidate answers before they go into the judge's prompt.

Answers are untrusted input to the judge. Text that could steer it is rewritten so it still
reads the same to a human but no longer has the shape the judge or its tokenizer acts on:
- verdict markers: `RESULT` followed by `]` or `:`, with or without `[`, in any spacing or case
  (`[RESULT]`, `[ result ]`, `RESULT: A`) become `(RESULT)`;
- the prompt's section names (`###Response A`, `###Score Rubric`, `###Reference Answer`,
  `###Feedback`, `###Instruction`, `###Task Description`) lose their `#`s anywhere in a line;
- any other run of three or more `#` at the start of a line becomes `##` (markdown headings stay
  headings); every Unicode line break (`\\r`, `\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, U+2028,
  U+2029, as well as `\\n`) starts a line;
- chat special tokens (`[INST]`, `[/INST]`, `<s>`, `</s>`, `<|im_start|>`, `<|eot_id|>`, and
  the judge tokenizer's own) lose their brackets, so a tokenizer cannot read them as control tokens.

Matching runs on a folded view of the text, so look-alikes cannot slip through: each character is
taken in its compatibility decomposition (NFKD: fullwidth `［ＲＥＳＵＬＴ］` reads as `[RESULT]`,
a no-break space as a space), combining marks and format characters (category Cf: zero-width
spaces and joiners, soft hyphens, bidi controls) are dropped, and Cyrillic, Greek, Armenian and
Cherokee letters that look like Latin ones (`RЕЅULT` with Cyrillic Е and Ѕ) read as those. Only
the matched spans are rewritten: the rest of the answer keeps its exact characters (`10⁹/L`,
`µg`, `≥` and any Greek or Cyrillic text are left as they are).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SECTION_NAMES = (
    r"Task\s*Description", r"Instruction", r"Response\s*[AB]", r"Reference\s*Answer",
    r"Score\s*Rubrics?", r"Feedback",
)
# Letters that look like Latin letters, read as those while matching (not a full confusables
# table: the letters the markers, section names and special tokens are written with).
LOOK_ALIKES = {
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ӏ": "I", "Ј": "J", "К": "K",
    "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԁ": "D",
    "Ԛ": "Q", "Ԝ": "W", "Һ": "H",
    "а": "a", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "о": "o", "р": "p", "ѕ": "s",
    "у": "y", "х": "x", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x",
    # Armenian and Cherokee
    "Ս": "U", "ս": "u", "Օ": "O", "օ": "o",
    "Ꭺ": "A", "Ᏼ": "B", "Ꭼ": "E", "Ꮖ": "I", "Ꮮ": "L", "Ꭱ": "R", "Ꮪ": "S", "Ꭲ": "T",
}
_DROPPED_CATEGORIES = {"Cf", "Mn", "Me"}
_MAX_PASSES = 5

_SPACE_IN_LINE = rf"[^\S{LINE_BREAKS}]"
_PATTERNS = {
    "result": r"(?:\[\s*)?(?P<result_word>RESULT)\s*[\]:]",
    "section": rf"#+{_SPACE_IN_LINE}*(?P<section_name>{'|'.join(SECTION_NAMES)})",
    "heading": rf"(?:\A|(?<=[{LINE_BREAKS}])){_SPACE_IN_LINE}*(?P<heading_hashes>#{{3,}})",
    "inst": r"\[\s*(?P<inst_slash>/?)\s*INST\s*\]",
    "sentence": r"<\s*(?P<sentence_slash>/?)\s*s\s*>",
    "pipe": r"<\|\s*(?P<pipe_name>[^|<>\s]{1,60})\s*\|>",
}


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch
    folded = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in folded if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    return "".join(LOOK_ALIKES.get(c, c) for c in kept)


@dataclass(frozen=True)
class FoldedView:
    """The text as it is matched, and for each of its characters the original's index."""

    text: str
    origin: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters behind view[start:end]."""
        return self.origin[start], self.origin[end - 1] + 1


def fold(text: str) -> FoldedView:
    if text.isascii():
        return FoldedView(text, list(range(len(text))))
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        folded = _fold_char(ch)
        chars.append(folded)
        origin.extend([index] * len(folded))
    return FoldedView("".join(chars), origin)


@lru_cache(maxsize=64)
def _matcher(extra_tokens: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS.items()]
    folded = sorted({fold(t).text for t in extra_tokens}, key=len, reverse=True)
    if folded:
        alternatives.append(f"(?P<extra>{'|'.join(re.escape(t) for t in folded)})")
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _brackets_to_parentheses(text: str) -> str:
    return text.replace("<", "(").replace(">", ")").replace("[", "(").replace("]", ")")


def _replacement(match: re.Match[str]) -> tuple[int, int, str]:
    """(view start, view end, neutral text) for one match."""
    kind = match.lastgroup
    if kind == "result":
        return match.start(), match.end(), f"({match.group('result_word')})"
    if kind == "section":
        return match.start(), match.end(), " ".join(match.group("section_name").split())
    if kind == "heading":
        return match.start("heading_hashes"), match.end("heading_hashes"), "##"
    if kind == "inst":
        return match.start(), match.end(), f"({match.group('inst_slash')}INST)"
    if kind == "sentence":
        return match.start(), match.end(), f"({match.group('sentence_slash')}s)"
    if kind == "pipe":
        return match.start(), match.end(), f"({match.group('pipe_name')})"
    return match.start(), match.end(), _brackets_to_parentheses(match.group())


def _may_steer(view: str) -> bool:
    """A quick test before the full match: every pattern needs one of these (most answers have none)."""
    return any(ch in view for ch in "#[]<") or "result" in view.lower()


def _one_pass(text: str, matcher: re.Pattern[str]) -> str:
    view = fold(text)
    if not _may_steer(view.text):
        return text
    edits = []
    for match in matcher.finditer(view.text):
        start, end, neutral = _replacement(match)
        if end > start:
            edits.append((*view.span(start, end), neutral))
    for start, end, neutral in reversed(edits):
        text = text[:start] + neutral + text[end:]
    return text


def sanitize_answer(text: str, extra_tokens: Iterable[str] = ()) -> str:
    """`text` with verdict markers, section names, headers and special tokens neutralised.

    Repeated until nothing changes, so removing one marker cannot assemble another.
    `extra_tokens` are more special tokens to neutralise (for example the judge tokenizer's own).
    """
    matcher = _matcher(tuple(t for t in extra_tokens if t and any(ch in t for ch in "<>[]")))
    for _ in range(_MAX_PASSES):
        cleaned = _one_pass(text, matcher)
        if cleaned == text:
            break
        text = cleaned
    return text


def steering_text(text: str, extra_tokens: Iterable[str] = ()) -> list[str]:
    """The pieces of `text` (as folded) that the sanitiser rewrites; none in a sanitised text."""
    matcher = _matcher(tuple(t for t in extra_tokens if t and any(ch in t for ch in "<>[]")))
    view = fold(text).text
    return [m.group() for m in matcher.finditer(view)] if _may_steer(view) else []
