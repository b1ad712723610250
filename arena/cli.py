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
