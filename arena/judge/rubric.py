"""Rubrics: the criteria the judge compares answers on, read from a YAML file.

A rubric is data, not code: a project selects one with `rubric:` in arena.yaml. Its id and
version are stored with every judgment, and its rendered text is part of the judge key, so
editing a rubric makes new judgments instead of mixing old and new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arena.config import read_yaml_mapping, repeated
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


def render_rubric(rubric: RubricFile) -> str:
    """Prometheus' relative rubric is a bracketed question; the criteria follow, one per line."""
    lines = [f"[{' '.join(rubric.question.split())}]"]
    lines += [f"- {c.name}: {' '.join(c.description.split())}" for c in rubric.criteria]
    return "\n".join(lines)


def load_rubric(path: str | Path) -> Rubric:
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
    return Rubric(id=parsed.id, version=parsed.version, name=parsed.name, text=render_rubric(parsed), path=path)
