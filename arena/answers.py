"""Candidate answers: which answer the current settings call for, the conversation a candidate
answers, and an answer's style.

An answer is keyed by (model, question id, fingerprint). The fingerprint covers everything that
shapes the answer: the model's answer settings (weights, revision, dtype, quantization, chat
template, system prompt, stops, sampling, context length) and the question text. Changing any of
them makes a new fingerprint, so that model's answers are regenerated and older ones are left in
the store untouched (their judgments stay valid for the text they judged).

An answer's style is its length in tokens and its markdown density (headers, list items, bold):
the covariates of LMArena's style control, counted as arena-hard-auto counts them
(`utils/add_markdown_info.py`): fenced code blocks are removed first, then headers are lines
starting with one to six `#` and a space, list items are lines starting (after indentation) with
`-`, `*`, `+` or a number and a dot, and bold spans are `**text**` or `__text__` on one line.
The length is the answer's completion tokens as its backend reported them (None when unknown).
They are counted once, when an answer is stored (answers.headers, .list_items, .bold beside
completion_tokens), so rating a million battles never re-reads an answer's text; imported
battles, which have no answers here, carry them on the battle row (battles.answer_a_headers, ...).

The store's reads and writes of answers are in `arena.store.answers`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from arena.config import ArenaConfig, ModelConfig
from arena.fingerprint import FINGERPRINT_LENGTH
from arena.questions.schema import Question

# --- which answer the settings call for ---------------------------------------------------------


def expected_fingerprints(
    config: ArenaConfig, models: Iterable[ModelConfig], question_list: Iterable[Question]
) -> dict[tuple[str, str], str]:
    """{(model name, question id): fingerprint} of the answers the current settings call for.

    Each is `fingerprint({"model": config.answer_fingerprint(model), "question": question.text})`;
    the canonical JSON of that two-key object is assembled from its two halves, each encoded once
    (a million battles' worth of answers in a few hundredths of a second instead of most of one).
    """
    tails = [(q.id, f',"question":{json.dumps(q.text, ensure_ascii=False)}}}'.encode()) for q in question_list]
    expected: dict[tuple[str, str], str] = {}
    for model in models:
        settings = config.answer_fingerprint(model)  # reads the template file once per model
        head = f'{{"model":{json.dumps(settings, ensure_ascii=False)}'.encode()
        for question_id, tail in tails:
            expected[(model.name, question_id)] = hashlib.sha256(head + tail).hexdigest()[:FINGERPRINT_LENGTH]
    return expected


def answer_fingerprint(config: ArenaConfig, model: ModelConfig, question: Question) -> str:
    """The fingerprint of one answer (`expected_fingerprints` for one model and question)."""
    return expected_fingerprints(config, [model], [question])[(model.name, question.id)]


def chat_messages(config: ArenaConfig, model: ModelConfig, question: Question) -> tuple[dict[str, str], ...]:
    """The conversation a candidate answers: the system prompt (omitted when empty) and the question."""
    system_prompt = config.system_prompt_for(model)
    user = {"role": "user", "content": question.text}
    if not system_prompt:
        return (user,)
    return ({"role": "system", "content": system_prompt}, user)


# --- an answer's style ------------------------------------------------------------------------

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

