"""The `arena` command line: thin wrappers that validate options and call the stages.

Heavy libraries (vLLM, torch, streamlit) are imported inside the commands that need them, so
`arena --help` and the light commands stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arena.errors import ArenaError
from arena.questions.similarity import (
    DEFAULT_EMBEDDING_MODEL,
    EMBEDDING_MAX_QUESTIONS,
    EMBEDDING_THRESHOLD,
    NEAR_DUPLICATE_THRESHOLD,
)

if TYPE_CHECKING:
    from arena.config import ArenaConfig, JudgeConfig
    from arena.judge.plan import JudgeRequest

try:  # typer >= 0.16 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import ClickException  # type: ignore[assignment]

INTERRUPTED = 130

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


VERBOSE = {"on": False}  # set by the root option; read by `engine_log_of`


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show the engines' logs (vLLM, llama.cpp, OpenVINO, transformers) "
        "on the terminal instead of a log file.")] = False,
) -> None:
    """An LLM-as-judge Elo arena for medical language models."""
    VERBOSE["on"] = verbose


@contextmanager
def engine_log_of(root: Path, command: str) -> Iterator[None]:
    """Engine logs into `logs/<command>-<time>.log` beside the project (arena.console), named on the terminal."""
    from arena import console

    if VERBOSE["on"]:
        yield
        return
    path = console.log_path_for(root, command)
    try:
        with console.engine_log(path):
            yield
    finally:  # named when an engine wrote to it; a run that started none (bad input) leaves no file
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()
        elif path.is_file():
            console.say(f"engine logs: {path} (arena -v {command} shows them here)")


def split_names(value: str | None) -> tuple[str, ...] | None:
    """`a,b` into ("a", "b"); None or empty into None (meaning all)."""
    if not value:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())

@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--dir", help="Where the demo project is written.")] = Path("demo"),
    questions: Annotated[int, typer.Option(min=2, help="How many shipped questions to use.")] = 3,
) -> None:
    """Demo: real SmolLM2-135M answers through vLLM, llama.cpp and OpenVINO, judged and rated (offline)."""
    from arena import console
    from arena.demo import WARNING, run_demo

    console.say(WARNING)
    with engine_log_of(out_dir, "demo"):
        result = run_demo(out_dir, question_count=questions)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.failed:
        raise typer.Exit(1)
    sys.stdout.write(result.board)
    store = result.config_path.parent / "arena.db"
    print(f"\nThe answers and the judge's feedback: arena dashboard -c {result.config_path} (Explorer page)"
          f"\nThe store: {store}\nDemo finished in {result.elapsed_s:.0f} s; a rerun reuses everything stored.",
          file=sys.stderr)


@app.command()
def generate(
    config: ConfigOption = Path("arena.yaml"),
    models: Annotated[str | None, typer.Option(help="Comma-separated model names (default: all).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    force: Annotated[bool, typer.Option(help="Regenerate answers that already exist.")] = False,
    batch: Annotated[int, typer.Option(
        min=1, help="Answers claimed from the store at a time (several workers share one store).")] = 256,
    lease: Annotated[float, typer.Option(
        min=1.0, help="Seconds after which a killed worker's claimed answers go to other workers.")] = 300.0,
) -> None:
    """Generate the missing candidate answers for every selected model."""
    from arena.config import load_config
    from arena.generate import GenerateRequest, run_generate

    request = GenerateRequest(models=split_names(models), limit=limit, force=force, batch=batch, lease_s=lease)
    project = load_config(config)
    with engine_log_of(project.root, "generate"):
        summary = run_generate(project, request)
    if summary.failed:
        raise typer.Exit(1)


judge_app = typer.Typer(add_completion=False, invoke_without_command=True, no_args_is_help=False)
app.add_typer(judge_app, name="judge")


@judge_app.callback(invoke_without_command=True)
def judge(
    ctx: typer.Context,
    config: ConfigOption = Path("arena.yaml"),
    models: Annotated[str | None, typer.Option(help="Comma-separated model names (default: all).")] = None,
    pairs: Annotated[str | None, typer.Option(
        help="all (every pair on every question), sample (K pairs per question) or adaptive (rounds where they "
             "most settle the ranking, until settled or --max-judgments); default from arena.yaml.")] = None,
    per_question: Annotated[int | None, typer.Option(min=1, help="K for --pairs sample.")] = None,
    max_judgments: Annotated[int | None, typer.Option(min=1, help=(
        "Make at most N judgments this run, all judges together: a jury shares N in equal shares, what one "
        "judge leaves unused going to the judges after it."))] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the --pairs sample draw.")] = None,
    retry_invalid: Annotated[bool, typer.Option(
        "--retry-invalid", help="Judge again the pairs whose stored judgment is invalid.")] = False,
    judge_name: Annotated[str | None, typer.Option(
        "--judge", help="Only this judge of the jury (`judges:` in arena.yaml); default: every judge in turn.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the judgments to make; call no model.")] = False,
    batch: Annotated[int, typer.Option(
        min=1, help="Pairs claimed from the store at a time (several workers share one store).")] = 256,
    lease: Annotated[float, typer.Option(
        min=1.0, help="Seconds after which a killed worker's claimed pairs go to other workers.")] = 300.0,
) -> None:
    """Judge stored answers pairwise in both orders with the Prometheus 2 judge; store battles.

    With a jury (`judges:`), every judge judges in turn under its own judge key. `arena judge
    validate DATASET` measures the judge against human labels instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    from arena.config import load_config
    from arena.judge.jury import run_judges
    from arena.judge.plan import JudgeRequest, PairsMode

    modes: dict[str | None, PairsMode | None] = {None: None, "all": "all", "sample": "sample", "adaptive": "adaptive"}
    if pairs not in modes:
        raise typer.BadParameter("expected all, sample or adaptive", param_hint="--pairs")
    mode = modes[pairs]
    project = load_config(config)
    request = JudgeRequest(models=split_names(models), pairs=mode, per_question=per_question,
                           max_judgments=max_judgments, seed=seed, retry_invalid=retry_invalid,
                           batch_pairs=batch, lease_s=lease)
    judges = project.select_judges(judge_name)
    if dry_run:
        _judge_dry_run(project, judges, request)
        return
    with engine_log_of(project.root, "judge"):
        summaries = run_judges(project, request, judge_name=judge_name)
    for summary in summaries:
        for line in summary.lines():
            print(line)
    if any(summary.failed for summary in summaries):
        raise typer.Exit(1)


def _judge_dry_run(project: ArenaConfig, judges: tuple[JudgeConfig, ...], request: JudgeRequest) -> None:
    """Each judge's planned judgments; a budget is shared by the jury as `arena judge` shares it
    (`arena.judge.jury.budget_share`), each judge taking what it plans."""
    from dataclasses import replace

    from arena.judge.jury import budget_share, not_run_reason
    from arena.judge.plan import format_planned, plan_judgments

    left = request.max_judgments
    for position, entry in enumerate(judges):
        prefix = f"[{entry.name}] " if len(project.jury) > 1 else ""
        if left is not None and left <= 0:
            print(f"{prefix}{not_run_reason(request.max_judgments or 0)}", file=sys.stderr)
            continue
        share = None if left is None else budget_share(left, len(judges) - position)
        if (request.pairs or project.pairs.mode) == "adaptive":
            from arena.judge.rounds import plan_first_round

            planned, status = plan_first_round(project.with_judge(entry), replace(request, max_judgments=share))
            print(f"{prefix}{status}", file=sys.stderr)
        else:
            planned = plan_judgments(project.with_judge(entry), replace(request, max_judgments=share))
        for line in format_planned(planned):
            print(prefix + line)
        print(f"{prefix}{len(planned)} judgment(s) to make", file=sys.stderr)
        left = None if left is None else left - len(planned)


@judge_app.command("validate")
def judge_validate(
    dataset: Annotated[Path, typer.Argument(
        help="Labelled pairs: JSONL (instruction, response_a, response_b, label A/B/tie, optional "
             "reference, rubric, category, id) or prometheus-eval's hhh_alignment_eval.json.",
        show_default=False)],
    config: ConfigOption = Path("arena.yaml"),
    fmt: Annotated[str | None, typer.Option(
        "--format", help="jsonl or hhh (default: from the extension, .jsonl or .json).")] = None,
    name: Annotated[str | None, typer.Option(help="The dataset's name in the store (default: file stem).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N pairs.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap rounds for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    output: Annotated[str, typer.Option("--output", help="table or json.")] = "table",
    judge_name: Annotated[str | None, typer.Option(
        "--judge", help="Which judge of a jury (`judges:` in arena.yaml) to validate.")] = None,
) -> None:
    """Measure the configured judge against human labels: agreement, position consistency, bias."""
    from arena.config import load_config
    from arena.judge.validate import run_validate

    if output not in ("table", "json"):
        raise typer.BadParameter("expected table or json", param_hint="--output")
    project = load_config(config)
    if judge_name is not None:
        project = project.with_judge(project.select_judges(judge_name)[0])
    with engine_log_of(project.root, "judge validate"):
        summary = run_validate(project, dataset, fmt=fmt, name=name, limit=limit,
                               bootstrap_rounds=bootstrap, seed=seed)
    for line in summary.lines():
        print(line, file=sys.stderr)
    assert summary.report is not None
    sys.stdout.write(summary.report.to_json() + "\n" if output == "json" else summary.report.table())
    if summary.failed:
        raise typer.Exit(1)


@app.command("rate")
def rate_command(
    config: ConfigOption = Path("arena.yaml"),
    category: Annotated[str | None, typer.Option(
        help="Rate one question category, one audience as audience:patient, or safety-critical.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap rounds for the 95% intervals.")] = 1000,
    bootstrap_by: Annotated[str, typer.Option(
        help="question (resample questions with all their battles) or battle (one by one, as for crowd "
             "votes; understates uncertainty when battles share questions).")] = "question",
    style: Annotated[str, typer.Option(
        help="Style-control covariates: any of tokens,headers,list_items,bold, or none.")
    ] = "tokens,headers,list_items,bold",
    compare: Annotated[tuple[str, str] | None, typer.Option(
        help="Two models: P(A rated above B), their head-to-head record and a sign test.")] = None,
    anchor: Annotated[str | None, typer.Option(
        help="Pin MODEL=RATING instead of a mean rating of 1000.")] = None,
    min_model_battles: Annotated[int, typer.Option(
        min=1, help="Flag models with fewer battles in a board as provisional.")] = 30,
    min_category_battles: Annotated[int, typer.Option(
        min=1, help="Views (categories, audiences, safety-critical) with fewer battles get no board.")] = 50,
    source: Annotated[str, typer.Option(
        help="judge (battles of the current judge, rubric and answers) or an import label.")] = "judge",
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Fit Bradley-Terry ratings with 95% intervals, print the leaderboard, store a snapshot."""
    import os

    # Small matrix products are several times faster without BLAS threads on a busy machine;
    # numpy reads this when first imported, which is below.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from arena.config import load_config
    from arena.files import check_output, write_atomic
    from arena.ratings.rate import RateRequest, run_rate
    from arena.ratings.render import FORMATS, render
    from arena.ratings.report import Anchor
    from arena.ratings.resample import BOOTSTRAP_KINDS, BootstrapKind
    from arena.ratings.style import parse_covariates

    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    if bootstrap_by not in BOOTSTRAP_KINDS:
        raise typer.BadParameter(f"expected one of {', '.join(BOOTSTRAP_KINDS)}", param_hint="--bootstrap-by")
    resampled: BootstrapKind = "question" if bootstrap_by == "question" else "battle"
    request = RateRequest(source=source, category=category, bootstrap_rounds=bootstrap, bootstrap=resampled,
                          anchor=Anchor.parse(anchor) if anchor else None, seed=seed, style=parse_covariates(style),
                          min_category_battles=min_category_battles, min_model_battles=min_model_battles,
                          compare=(compare[0], compare[1]) if compare else None)
    if out is not None:
        check_output(out, "leaderboard")  # before the fit stores a snapshot
    result = run_rate(load_config(config), request)
    text = render(result.snapshot.report, fmt, result.comparison)
    if out is not None:
        write_atomic(out, text)
    else:
        sys.stdout.write(text)
    what = "battles unchanged: reused" if result.reused else "stored"
    print(f"{what} rating snapshot {result.snapshot.id}" + (f"; wrote {out}" if out else ""), file=sys.stderr)


@app.command()
def dashboard(
    config: ConfigOption = Path("arena.yaml"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
) -> None:
    """Serve the read-only Streamlit dashboard of the project's store."""
    import subprocess

    from arena.config import load_config
    from arena.dashboard import APP
    from arena.store.engine import redacted_url

    project = load_config(config)  # a broken project file fails here, in one line
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
        "--server.fileWatcherType", "none", "--", "--config", str(project.path),
    ]
    shown = redacted_url(project.storage_url)
    print(f"dashboard of {shown} on http://{address}:{port} (Ctrl+C stops it)", file=sys.stderr)
    try:
        status = subprocess.call(command)
    except KeyboardInterrupt:
        status = 0  # Ctrl+C is how a dashboard is meant to stop
    raise typer.Exit(status)


@app.command()
def nightly(
    config: ConfigOption = Path("arena.yaml"),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print what would be done (answers, battles, judge calls); change nothing.")] = False,
) -> None:
    """One idempotent run of the whole pipeline: questions, answers, judgments, ratings, exports.

    Exit status: 0 all done; 1 a stage failed or a model was skipped (named in the summary);
    2 bad project file; 3 another run holds the store's lock.
    """
    from arena.config import load_config
    from arena.nightly.plan import format_plan, plan_nightly
    from arena.nightly.runner import run_nightly, stop_on_sigterm

    project = load_config(config)
    if dry_run:
        print(format_plan(plan_nightly(project)))
        return
    try:
        with stop_on_sigterm(), engine_log_of(project.root, "nightly"):
            report = run_nightly(project)
    except KeyboardInterrupt:
        print("interrupted: finished work is saved and the lock released; the next run continues",
              file=sys.stderr)
        raise typer.Exit(130) from None
    if report.exit_code:
        problems = [f"failed: {', '.join(report.failed_stages)}"] if report.failed_stages else []
        problems += [f"partial: {', '.join(report.partial_stages)}"] if report.partial_stages else []
        print(f"error: nightly run {report.run_id} {'; '.join(problems)} "
              f"(log: {project.nightly.log_file})", file=sys.stderr)
        raise typer.Exit(report.exit_code)


questions_app = typer.Typer(
    help="Check, describe and import question sets.", no_args_is_help=True, add_completion=False
)
app.add_typer(questions_app, name="questions")

QuestionFiles = Annotated[
    list[str], typer.Argument(help="Question files (JSONL); arena:questions/health-v1.jsonl is the shipped set.",
                              show_default=False)
]


@questions_app.command("validate")
def questions_validate(
    files: QuestionFiles,
    near_threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Text similarity that counts as a near duplicate.")] = NEAR_DUPLICATE_THRESHOLD,
    embeddings: Annotated[bool, typer.Option(
        help="Also look for paraphrases with a locally installed embedding model.")] = True,
    embedding_model: Annotated[str, typer.Option(
        help="Sentence-transformers model name or directory; never downloaded.")
    ] = DEFAULT_EMBEDDING_MODEL,
    embedding_threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Embedding cosine similarity that counts as a paraphrase (calibrated on "
        "paraphrases of shipped questions).")] = EMBEDDING_THRESHOLD,
    embedding_limit: Annotated[int, typer.Option(
        min=0, help="Skip the embedding check (saying so) for sets with more distinct questions: it "
        "encodes every text.")] = EMBEDDING_MAX_QUESTIONS,
) -> None:
    """Report every problem of question files as FILE:LINE lines; exit 1 if any is an error."""
    from arena.files import resolve_path
    from arena.questions.checks import count_questions, embedding_skipped_note, validate_files
    from arena.questions.similarity import load_local_embedder

    paths = [resolve_path(name) for name in files]
    embed, note = None, "embedding check skipped: --no-embeddings"
    if embeddings and (count := count_questions(paths)) > embedding_limit:  # not worth loading the model
        note = embedding_skipped_note(count, embedding_limit)
    elif embeddings:
        embed, note = load_local_embedder(embedding_model)
    report = validate_files(paths, near_threshold, embed, embedding_threshold, embedding_limit)
    for problem in report.problems:
        print(problem)
    print(note)
    for capped in report.notes:
        print(capped)
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

    from arena.files import resolve_path
    from arena.questions.stats import format_stats, stats_for_files

    if output not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--format")
    stats = stats_for_files([resolve_path(name) for name in files])
    print(json.dumps(stats.as_dict(), indent=2) if output == "json" else format_stats(stats))


@questions_app.command("import")
def questions_import(
    source: Annotated[Path, typer.Argument(
        help="The external set: a file, or MedQuAD's folder.", show_default=False)],
    fmt: Annotated[str, typer.Option(
        "--format", help="jsonl, csv, medquad or kqa.", show_default=False)],
    out: Annotated[Path, typer.Option(help="The JSONL file to write.", show_default=False)],
    column_map: Annotated[str | None, typer.Option(
        "--map", help="jsonl/csv column mapping: ourfield=theirfield,...")] = None,
    sample: Annotated[int | None, typer.Option(
        min=1, help="Keep a random sample of N questions.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    category: Annotated[str | None, typer.Option(
        help="Category of rows without a known category of their own.")] = None,
    audience: Annotated[str | None, typer.Option(
        help="patient or clinician, for every row.")] = None,
    licence: Annotated[str | None, typer.Option(
        "--license", help="Licence to record (default: the format's own).")] = None,
    source_name: Annotated[str | None, typer.Option(
        help="jsonl/csv: the source name in ids and provenance (default: file name).")] = None,
) -> None:
    """Convert an external question set into our schema, with stable ids and provenance."""
    from arena.errors import DataError
    from arena.files import check_output
    from arena.questions.importers import (
        FORMATS,
        import_questions,
        known_category,
        parse_field_map,
        write_questions,
    )
    from arena.questions.importers.rows import Audience, ImportOptions

    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    if audience not in (None, "patient", "clinician"):
        raise typer.BadParameter("expected patient or clinician", param_hint="--audience")
    who: Audience | None = None if audience is None else "patient" if audience == "patient" else "clinician"
    if category is not None and known_category(category) is None:
        raise typer.BadParameter(
            f"{category!r} is not in arena.questions.CATEGORIES", param_hint="--category")
    options = ImportOptions(
        field_map=parse_field_map(column_map), category=known_category(category),
        audience=who, license=licence, source_name=source_name,
        sample=sample, seed=seed,
    )
    check_output(out, "questions")  # before reading a large source
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


battles_app = typer.Typer(
    help="Battles in and out, in the Chatbot Arena battle format.", no_args_is_help=True,
    add_completion=False,
)
app.add_typer(battles_app, name="battles")


@battles_app.command("export")
def battles_export(
    config: ConfigOption = Path("arena.yaml"),
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    source: Annotated[str, typer.Option(
        help="judge (battles of the current judge and rubric), an import label, or all.")] = "judge",
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Write battles as JSON Lines or CSV (model_a, model_b, winner, question_id, ...)."""
    from arena.battles_io import EXPORT_FORMATS, export_battles
    from arena.config import load_config
    from arena.files import atomic_output, check_output
    from arena.ratings.rate import resolve_judge_key
    from arena.store.engine import open_store

    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(EXPORT_FORMATS)}", param_hint="--format")
    settings = load_config(config)
    if out is not None:
        check_output(out, "battles")
    store = open_store(settings.storage_url, create=False)
    try:
        jury: tuple[str, ...] = ()
        if source == "judge" and len(settings.jury) > 1:  # every judge's battles, each under its judge key
            from arena.judge.key import jury_judge_keys

            judge_key, jury = None, tuple(key for _, key in jury_judge_keys(settings))
        else:
            judge_key, _ = resolve_judge_key(settings, store, source)
        selected = None if source == "all" else source
        if out is not None:
            with atomic_output(out) as handle:
                count = export_battles(store, handle, fmt, selected, judge_key, jury)
        else:
            count = export_battles(store, sys.stdout, fmt, selected, judge_key, jury)
    finally:
        store.close()
    print(f"exported {count} battle(s)" + (f" to {out}" if out else ""), file=sys.stderr)


@battles_app.command("import")
def battles_import(
    file: Annotated[Path, typer.Argument(help="Battles: .jsonl, .json or .csv.", show_default=False)],
    config: ConfigOption = Path("arena.yaml"),
    source: Annotated[str | None, typer.Option(
        help="Source label to keep them under (default: import:<file stem>).")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="jsonl, json or csv (default: from the extension).")] = None,
) -> None:
    """Import battles from elsewhere (crowd votes, another judge); rate them with `arena rate --source`."""
    from arena.battles_io import IMPORT_FORMATS, import_battles
    from arena.config import load_config
    from arena.errors import DataError
    from arena.store.engine import open_store

    if fmt is not None and fmt not in IMPORT_FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(IMPORT_FORMATS)}", param_hint="--format")
    store = open_store(load_config(config).storage_url)
    try:
        report = import_battles(store, file, source, fmt)
    finally:
        store.close()
    shown = 50
    for line in report.problems[:shown]:
        print(line, file=sys.stderr)
    if report.skipped > shown:
        print(f"... and {report.skipped - shown} more malformed row(s)", file=sys.stderr)
    if report.rows and report.imported + report.already_present == 0:
        raise DataError(f"{file}: nothing imported: all {report.rows} row(s) are malformed")
    print(f"imported {report.imported} battle(s) from {file} as source {report.source!r}; "
          f"skipped {report.skipped} malformed row(s); {report.already_present} already present")


def main() -> None:
    """Entry point: one-line errors and a non-zero exit instead of tracebacks."""
    try:
        # Not standalone, so that errors and interrupts reach the handlers below.
        status = app(standalone_mode=False)
    except ArenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):  # Ctrl-C; a command that said more exits 130 itself
        print("interrupted: finished work is saved; run the command again to continue", file=sys.stderr)
        status = INTERRUPTED
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
