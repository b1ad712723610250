"""K-QA (Manes et al.): real patient questions with physicians' answers, MIT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arena.questions.importers.rows import ImportOptions, Row, Skip, json_objects
from arena.questions.similarity import normalise_text


def read(path: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    """K-QA JSONL (questions.jsonl or questions_w_answers.jsonl): "Question", "Free_form_answer"."""
    for item in json_objects(path):
        if isinstance(item, Skip):
            yield item
            continue
        where, record = item
        text = record.get("Question")
        if not isinstance(text, str) or not text.strip():
            yield Skip(where, "no \"Question\" text")
            continue
        line = where.rsplit(":", 1)[1]
        fields: dict[str, Any] = {"text": text, "source": "K-QA", "source_id": f"{path.name}:{line}"}
        answer = record.get("Free_form_answer")
        if isinstance(answer, str) and answer.strip():
            fields["reference"] = answer.strip()
        # K-QA rows have no id; its own evaluation keys rows by question text, and so do we.
        yield Row(where, normalise_text(text), fields)
