"""A small judging project on disk: questions, candidate answers inserted into the store, a judge.

The project is written by tests/fakes/project.py; here are this room's defaults: placeholder
candidates (their answers are inserted by `add_answers`), two health questions, the project's own
copy of the packaged rubric, and judges on scripted OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from arena.config import DEFAULT_RUBRIC
from arena.files import resolve_path
from tests.fakes.project import Project, placeholder_model, write_project
from tests.fakes.scripted_server import ScriptedServer, response_sections

__all__ = ["Project", "add_answers", "answers_of_length", "jury_project", "make_project", "scripted_judge"]

REPO = Path(__file__).resolve().parents[2]

QUESTIONS = [
    {"id": "q1", "text": "What are the warning signs of a stroke?", "category": "neurology"},
    {"id": "q2", "text": "How should I take metformin?", "category": "endocrinology",
     "reference_answer": "With meals, starting low, as prescribed."},
]


def make_project(root: Path, judge: dict[str, Any] | None,
                 models: Sequence[str | Mapping[str, Any]] = ("alpha", "beta", "gamma"),
                 questions: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
                 judges: list[dict[str, Any]] | None = None) -> Project:
    """A project whose models are placeholders (a name) or the entries given, judged by `judge`
    (or the jury `judges`), with its own copy of the rubric: tests edit it."""
    entries = [placeholder_model(m) if isinstance(m, str) else m for m in models]
    path = write_project(root, models=entries, questions=questions or QUESTIONS,
                         rubric=resolve_path(DEFAULT_RUBRIC), judge=judge, judges=judges, extra=extra)
    return Project(root=root, config_path=path)


def add_answers(project: Project, texts: dict[tuple[str, str], str]) -> dict[tuple[str, str], int]:
    """Store answers {(model, question id): text} as if `arena generate` had made them."""
    return project.add_answers(texts)


def answers_of_length(models: tuple[str, ...] = ("alpha", "beta", "gamma"),
                      question_ids: tuple[str, ...] = ("q1", "q2")) -> dict[tuple[str, str], str]:
    """Answers whose lengths rank the models: later models write longer answers."""
    return {(model, qid): f"{model} on {qid}: " + "detail " * (3 * (rank + 1))
            for rank, model in enumerate(models) for qid in question_ids}


def scripted_judge(base_url: str, **overrides: Any) -> dict[str, Any]:
    return {"name": "scripted-judge", "backend": "openai", "model": "scripted", "base_url": base_url,
            "max_concurrency": 1, "max_retries": 0, **overrides}


# --- a jury of three scripted judges, one a contrarian ----------------------------------------

JURY_MODELS = ("alpha", "beta", "gamma")  # answer ids follow this order, so the lower id is the earlier model
JURY_UNITS = [("q1", "alpha", "beta"), ("q1", "alpha", "gamma"), ("q1", "beta", "gamma"),
         ("q2", "alpha", "beta"), ("q2", "alpha", "gamma"), ("q2", "beta", "gamma")]
# Each judge's both-orders outcome of each unit, for the earlier model: W wins, T tie, L loses.
JURY_OUTCOMES = {
    "j1": "LLLLLT",
    "j2": "LLWLTT",
    "j3": "WWWWWL",  # the contrarian
}


def table_script(outcomes: str) -> Callable[[str], str]:
    """A judge whose both-orders outcome of each unit is `outcomes`: the winner's answer gets the
    verdict in either order; a tie is "A" in both orders (the orders then disagree: a tie)."""
    def script(prompt: str) -> str:
        a, b = response_sections(prompt)
        model_a, question = a.split(" on ")[0].strip(), a.split(" on ")[1].split(":")[0]
        model_b = b.split(" on ")[0].strip()
        low, high = sorted((model_a, model_b), key=JURY_MODELS.index)
        outcome = outcomes[JURY_UNITS.index((question, low, high))]
        if outcome == "T":
            return "Both are about as good. [RESULT] A"
        winner = low if outcome == "W" else high
        letter = "A" if winner == model_a else "B"
        return f"Response {letter} is better. [RESULT] {letter}"
    return script


@contextmanager
def jury_project(tmp_path: Path) -> Iterator[tuple[Project, dict[str, ScriptedServer]]]:
    with ExitStack() as stack:
        servers = {name: stack.enter_context(ScriptedServer(table_script(o), model=f"model-{name}"))
                   for name, o in JURY_OUTCOMES.items()}
        judges = [scripted_judge(s.base_url, name=name, model=f"model-{name}") for name, s in servers.items()]
        project = make_project(tmp_path / "p", None, models=JURY_MODELS, judges=judges)
        add_answers(project, answers_of_length(JURY_MODELS))
        yield project, servers
