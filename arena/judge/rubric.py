"""Rubrics: the criteria the judge compares answers on, read from a YAML file.

A rubric is data, not code: a project selects one with `rubric:` in arena.yaml. Its id and
version are stored with every judgment, and its rendered text is part of the judge key, so
editing a rubric makes new judgments instead of mixing old and new ones.

How a rubric reads under "###Score Rubric:" is the judge's `rubric_layout`:
- `trained` (the default): one bracketed criterion line, the layout Prometheus 2 was trained on
  for relative grading. prometheus-eval feeds only the first line of a rubric to the relative
  prompt (`rubric.split("\\n")[0]` in its `prompts.py` and evaluation scripts), so its relative
  rubrics are a single `[question ...]` line. The line is the rubric file's `criterion`, which
  folds every criterion into one question; a file without one gets the question followed by
  each criterion as "Name: description".
- `criteria-list`: the bracketed `question` and one "- Name: description" line per criterion
  below it, as arena rendered rubrics before; kept for reproducing a published setup that used
  it. Prometheus 2 never saw this layout in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arena.config import RubricLayout, read_yaml_mapping, repeated
from arena.errors import ConfigError, first_problem


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)


class RubricFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1)
    question: str = Field(min_length=1, description="the headline the judge decides on")
    criteria: list[Criterion] = Field(min_length=1)
    criterion: str | None = Field(
        None, min_length=1,
        description="the single criterion line of the trained layout, folding every criterion in")

    @model_validator(mode="after")
    def _unique_criteria(self) -> RubricFile:
        duplicates = repeated([c.id for c in self.criteria])
        if duplicates:
            raise ValueError(f"duplicate criterion ids: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    name: str
    text: str  # what goes under "###Score Rubric:" in the judge's prompt
    path: Path
    layout: RubricLayout = "trained"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _sentence(text: str) -> str:
    text = _one_line(text)
    return text if text.endswith((".", "?", "!")) else f"{text}."


def criterion_line(rubric: RubricFile) -> str:
    """The trained layout's one line: the file's `criterion`, or the question and each criterion."""
    if rubric.criterion is not None:
        line = _one_line(rubric.criterion)
        return line[1:-1].strip() if line.startswith("[") and line.endswith("]") else line
    parts = [_one_line(rubric.question)] + [f"{c.name}: {_sentence(c.description)}" for c in rubric.criteria]
    return " ".join(parts)


def render_rubric(rubric: RubricFile, layout: RubricLayout = "trained") -> str:
    """The rubric as the judge reads it, in the given layout (see the module docstring)."""
    if layout == "trained":
        return f"[{criterion_line(rubric)}]"
    lines = [f"[{_one_line(rubric.question)}]"]
    lines += [f"- {c.name}: {_one_line(c.description)}" for c in rubric.criteria]
    return "\n".join(lines)


def load_rubric(path: str | Path, layout: RubricLayout = "trained") -> Rubric:
    """Read and validate a rubric file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: rubric file not found (set `rubric:` in arena.yaml)")
    raw = read_yaml_mapping(path, "id, version, name, question and criteria")
    if isinstance(raw.get("version"), (int, float)):
        raw["version"] = str(raw["version"])
    try:
        parsed = RubricFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_problem(exc, 'rubric')}") from None
    return Rubric(id=parsed.id, version=parsed.version, name=parsed.name,
                  text=render_rubric(parsed, layout), path=path, layout=layout)
