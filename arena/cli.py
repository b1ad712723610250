"""The `arena` command line: thin wrappers that validate options and call the stages.

Heavy libraries (vLLM, torch, streamlit) are imported inside the commands that need them, so
`arena --help` and the light commands stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from arena.errors import ArenaError

app = typer.Typer(
    name="arena",
    help="An LLM-as-judge Elo arena for medical language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The project file.", show_default=True)
]


@app.callback()
def _root() -> None:
    """An LLM-as-judge Elo arena for medical language models."""


def split_names(value: str | None) -> list[str] | None:
    """`a,b` into ["a", "b"]; None or empty into None (meaning all)."""
    if not value:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


@app.command()
def generate(
    config: ConfigOption = Path("arena.yaml"),
    models: Annotated[Optional[str], typer.Option(help="Comma-separated model names (default: all).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N questions.")] = None,
    force: Annotated[bool, typer.Option(help="Regenerate answers that already exist.")] = False,
) -> None:
    """Generate the missing candidate answers for every selected model."""
    from arena.config import load_config
    from arena.generate import run_generate

    summary = run_generate(load_config(config), split_names(models), limit=limit, force=force)
    if summary.failed:
        raise typer.Exit(1)


questions_app = typer.Typer(
    help="Check, describe and import question sets.", no_args_is_help=True, add_completion=False
)
app.add_typer(questions_app, name="questions")

QuestionFiles = Annotated[
    list[Path], typer.Argument(help="Question files (JSONL).", show_default=False)
]


@questions_app.command("validate")
def questions_validate(
    files: QuestionFiles,
    near_threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Text similarity that counts as a near duplicate.")] = 0.8,
    embeddings: Annotated[bool, typer.Option(
        help="Also look for paraphrases with a locally installed embedding model.")] = True,
    embedding_model: Annotated[str, typer.Option(
        help="Sentence-transformers model name or directory; never downloaded.")
    ] = "sentence-transformers/all-MiniLM-L6-v2",
    embedding_threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Embedding cosine similarity that counts as a paraphrase.")] = 0.92,
) -> None:
    """Report every problem of question files as FILE:LINE lines; exit 1 if any is an error."""
    from arena.question_checks import load_local_embedder, validate_files

    embed, note = None, "embedding check skipped: --no-embeddings"
    if embeddings:
        embed, note = load_local_embedder(embedding_model)
    report = validate_files(files, near_threshold, embed, embedding_threshold)
    for problem in report.problems:
        print(problem)
    print(note)
    print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@questions_app.command("stats")
def questions_stats(
    files: QuestionFiles,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Counts by category, audience, kind and safety flag, and the length distribution."""
    import json

    from arena.question_checks import format_stats, stats_for_files

    if output not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--format")
    stats = stats_for_files(files)
    print(json.dumps(stats.as_dict(), indent=2) if output == "json" else format_stats(stats))


@questions_app.command("import")
def questions_import(
    source: Annotated[Path, typer.Argument(
        help="The external set: a file, or MedQuAD's folder.", show_default=False)],
    fmt: Annotated[str, typer.Option(
        "--format", help="jsonl, csv, medquad or kqa.", show_default=False)],
    out: Annotated[Path, typer.Option(help="The JSONL file to write.", show_default=False)],
    column_map: Annotated[Optional[str], typer.Option(
        "--map", help="jsonl/csv column mapping: ourfield=theirfield,...")] = None,
    sample: Annotated[Optional[int], typer.Option(
        min=1, help="Keep a random sample of N questions.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    category: Annotated[Optional[str], typer.Option(
        help="Category of rows without a known category of their own.")] = None,
    audience: Annotated[Optional[str], typer.Option(
        help="patient or clinician, for every row.")] = None,
    licence: Annotated[Optional[str], typer.Option(
        "--license", help="Licence to record (default: the format's own).")] = None,
    source_name: Annotated[Optional[str], typer.Option(
        help="jsonl/csv: the source name in ids and provenance (default: file name).")] = None,
) -> None:
    """Convert an external question set into our schema, with stable ids and provenance."""
    from arena.errors import DataError
    from arena.question_import import (
        FORMATS, ImportOptions, import_questions, known_category, parse_field_map,
        write_questions,
    )

    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    if audience not in (None, "patient", "clinician"):
        raise typer.BadParameter("expected patient or clinician", param_hint="--audience")
    if category is not None and known_category(category) is None:
        raise typer.BadParameter(
            f"{category!r} is not in arena.questions.CATEGORIES", param_hint="--category")
    options = ImportOptions(
        field_map=parse_field_map(column_map), category=known_category(category),
        audience=audience, license=licence, source_name=source_name,  # type: ignore[arg-type]
        sample=sample, seed=seed,
    )
    result = import_questions(source, fmt, options)
    for line in result.problems:
        print(line, file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if not result.questions:
        raise DataError(
            f"{source}: nothing imported ({result.rows} row(s) read, {result.skipped} skipped)")
    write_questions(result.questions, out)
    print(f"imported {len(result.questions)} question(s) from {source} to {out}; "
          f"skipped {result.skipped} row(s), dropped {result.duplicates} duplicate(s)")


def main() -> None:
    """Entry point: one-line errors and a non-zero exit instead of tracebacks."""
    try:
        app()
    except ArenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; run the command again to continue", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
