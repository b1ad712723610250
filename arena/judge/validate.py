"""`arena judge validate DATASET`: the configured judge on labelled pairs, both orders, stored.

The judge is the project's (`judge:` in arena.yaml, any backend), with its rubric layout,
reference setting, sampling, seed, sanitising, truncation, constrained decoding and retries,
exactly as `arena judge` runs it. Each pair is judged with Response A = the pair's response_a
("ab") and with the two swapped ("ba").

What it stores: the dataset's pairs in `validation_items` (replaced by the file's on every run,
so the report always describes the file as it is now) and every judgment in
`validation_judgments`, keyed by (judge key, what the judge read, order). A rerun, or another
dataset holding the same pair, reuses them: no judgment is made twice. Invalid judgments are
kept as they are (they are part of what is measured), not retried on later runs. Each judgment
records the seed it was sent (derived from `judge.sampling.seed`, the pair and the order) and
the backend's finish reason.

A pair's own rubric line (HHH's, or a JSONL `rubric`) is used as the Prometheus 2 evaluation
used it; pairs without one get the project's rubric. A pair's reference answer is shown unless
`judge.reference_answers` is off. The report (`validation_report.py`) is computed from the
store, so the dashboard shows the same numbers the command printed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from arena import console
from arena.backends.base import Backend, GenerationRequest, GenerationResult, SamplingSettings
from arena.config import ArenaConfig, JudgeConfig
from arena.judge.calls import judge_round
from arena.judge.key import judge_key_for, judge_rubric, require_judge
from arena.judge.prompt import PROMPT_VERSION, PromptParts, prompt_parts
from arena.judge.rubric import Rubric
from arena.judge.run import derive_seed, judge_regex, logprobs_wanted, uses_constrained_decoding
from arena.judge.sanitize import sanitize_answer
from arena.judge.template import judge_chat_template
from arena.judge.truncate import (
    FittedAnswers,
    PromptTooLong,
    fit_answers,
    load_token_counter,
    prompt_budget,
)
from arena.judge.validation_data import LabelledPair, as_label, read_dataset
from arena.judge.validation_report import (
    BOOTSTRAP_ROUNDS,
    JudgedPair,
    ValidationReport,
    build_report,
)
from arena.judge.verdict import p_a_from_logprobs
from arena.store.commit import GroupCommitThread
from arena.store.engine import Store, open_store
from arena.store.validation import (
    dataset_items,
    dataset_source,
    insert_verdicts,
    judge_name_of,
    replace_items,
    stored_verdicts,
)

log = logging.getLogger(__name__)

POSITIONS = ("ab", "ba")  # "ab": the pair's response_a shown as Response A


def load_report(store: Store, dataset: str, judge_key: str, judge: str | None = None,
                rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> ValidationReport:
    """The report of a judge key on a dataset as stored (pairs missing an order are pending)."""
    verdicts = stored_verdicts(store, judge_key)
    items = dataset_items(store, dataset)
    if judge is None:
        judge = judge_name_of(store, judge_key) or "?"
    judged, pending = [], 0
    for item in items:
        if (item.fingerprint, "ab") in verdicts and (item.fingerprint, "ba") in verdicts:
            judged.append(JudgedPair(item.item_id, item.category, as_label(item.label),
                                     verdicts[(item.fingerprint, "ab")], verdicts[(item.fingerprint, "ba")]))
        else:
            pending += 1
    return build_report(dataset, judge, judge_key, judged, pending=pending, rounds=rounds, seed=seed)


# --- the summary ------------------------------------------------------------------------------

@dataclass
class ValidationSummary:
    dataset: str
    judge: str
    judge_key: str
    pairs: int
    constrained: bool | None = None  # None: no judge was loaded (everything was stored)
    reused: int = 0  # judgments already stored
    judgments: int = 0  # judgments written by this run
    invalid_judgments: int = 0
    retries: int = 0
    model_calls: int = 0
    errors: int = 0  # requests the backend failed (nothing stored for them)
    too_long: int = 0  # pairs whose prompt cannot fit the judge's context
    truncated: int = 0  # judgments whose responses were shortened to fit
    elapsed_s: float = 0.0
    error_examples: list[str] = field(default_factory=list)
    report: ValidationReport | None = None

    @property
    def failed(self) -> bool:
        return self.errors > 0

    def lines(self) -> list[str]:
        modes = {True: "constrained decoding", False: "parse and retry", None: "judge not loaded"}
        lines = [
            f"validate judge {self.judge} (key {self.judge_key}) on {self.dataset}: {self.pairs} pairs, "
            f"{modes[self.constrained]}",
            f"judgments: {self.judgments} written ({self.invalid_judgments} invalid, {self.truncated} truncated), "
            f"{self.reused} reused, {self.retries} retries, {self.model_calls} model calls in {self.elapsed_s:.1f} s",
        ]
        if self.too_long:
            lines.append(f"skipped {self.too_long} pairs: instruction, reference and rubric leave no room "
                         "for the responses in the judge's context")
        if self.errors:
            lines.append(f"{self.errors} requests failed: {'; '.join(self.error_examples)}")
        return lines


# --- running ----------------------------------------------------------------------------------

@dataclass
class _Task:
    pair: LabelledPair
    position: str
    parts: PromptParts
    fitted: FittedAnswers
    attempt: int = 1

    def request(self, judge: JudgeConfig, sampling: SamplingSettings, regex: str | None, logprobs: int | None,
                key: str) -> GenerationRequest:
        """The request of this attempt: the judge's sampling with this pair's, order's and attempt's seed."""
        shown = (self.fitted.x, self.fitted.y) if self.position == "ab" else (self.fitted.y, self.fitted.x)
        return GenerationRequest(key=key, prompt=self.parts.join(*shown), regex=regex, logprobs=logprobs,
                                 sampling=replace(sampling, seed=self.seed(judge)))

    def seed(self, judge: JudgeConfig) -> int | None:
        return derive_seed(judge.sampling.seed, "validate", self.pair.fingerprint, self.position, self.attempt)


def run_validate(
    config: ArenaConfig,
    data: Path,
    fmt: str | None = None,
    name: str | None = None,
    limit: int | None = None,
    backend: Backend | None = None,
    progress: bool = True,
    bootstrap_rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> ValidationSummary:
    """Judge the dataset's pairs not yet judged under the current judge key; return the report."""
    started = time.perf_counter()
    judge = require_judge(config)
    rubric = judge_rubric(config)
    judge_key = judge_key_for(judge, rubric)
    dataset = read_dataset(data, fmt, name, limit)
    summary = ValidationSummary(dataset=dataset.name, judge=judge.name, judge_key=judge_key,
                                pairs=len(dataset.pairs))
    store = open_store(config.storage_url)
    try:
        source = str(dataset.path.resolve())
        previous = dataset_source(store, dataset.name)
        if previous is not None and previous != source:
            console.say(f"note: dataset {dataset.name!r} held the pairs of {previous}; it now holds those of "
                        f"{source} (pass --name to keep both); verdicts on unchanged pairs are kept")
        replace_items(store, dataset.name, source, dataset.pairs)
        stored = stored_verdicts(store, judge_key)
        todo = _unique_todo(dataset.pairs, stored, summary)
        if todo:
            owned = backend is None
            backend = backend or _make_backend(judge)
            try:
                _Runner(store, judge, rubric, judge_key, backend, summary, progress).run(todo)
            finally:
                if owned:
                    backend.close()
        summary.report = load_report(store, dataset.name, judge_key, judge.name, bootstrap_rounds, seed)
    finally:
        store.close()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _unique_todo(pairs: Sequence[LabelledPair], stored: dict[tuple[str, str], Any],
                 summary: ValidationSummary) -> list[tuple[LabelledPair, list[str]]]:
    """Pairs with the orders still to judge, each distinct content once."""
    todo: dict[str, tuple[LabelledPair, list[str]]] = {}
    for pair in pairs:
        if pair.fingerprint in todo:
            continue
        missing = [p for p in POSITIONS if (pair.fingerprint, p) not in stored]
        summary.reused += len(POSITIONS) - len(missing)
        if missing:
            todo[pair.fingerprint] = (pair, missing)
    return list(todo.values())


def _make_backend(judge: JudgeConfig) -> Backend:
    from arena.backends import make_backend

    return make_backend(judge)


class _Runner:
    """Sends the prompts, retries invalid outputs, and commits each judgment as it finishes."""

    def __init__(self, store: Store, judge: JudgeConfig, rubric: Rubric, judge_key: str, backend: Backend,
                 summary: ValidationSummary, progress: bool) -> None:
        self.store, self.judge, self.rubric, self.judge_key = store, judge, rubric, judge_key
        self.backend, self.summary, self.progress = backend, summary, progress
        self.constrained = uses_constrained_decoding(judge, backend)
        summary.constrained = self.constrained
        self.regex = judge_regex(backend, judge.sampling.max_tokens) if self.constrained else None
        self.logprobs = logprobs_wanted(judge, backend, self.constrained)
        self.sampling = judge.sampling_settings()
        self.error: BaseException | None = None
        self.bar: Any = None

    def run(self, todo: list[tuple[LabelledPair, list[str]]]) -> None:
        from tqdm import tqdm

        tasks = self._prepare(todo)
        writer = GroupCommitThread(self._commit, name="arena-validation-writer")
        with tqdm(total=len(tasks), desc="validate", unit="judgment", file=console.err(),
                  disable=not self.progress, dynamic_ncols=True) as bar:
            self.bar = bar
            try:
                while tasks:
                    tasks = self._round(tasks, writer)
            finally:
                writer.close()
        if self.error is not None:
            raise self.error

    def _prepare(self, todo: list[tuple[LabelledPair, list[str]]]) -> list[_Task]:
        counter = load_token_counter(self.judge)
        specials = counter.special_tokens
        budget = prompt_budget(self.judge)
        template = judge_chat_template(self.judge)
        tasks: list[_Task] = []
        for pair, positions in todo:
            reference = pair.reference if self.judge.reference_answers else None
            parts = prompt_parts(sanitize_answer(pair.instruction, specials), pair.rubric or self.rubric.text,
                                 sanitize_answer(reference, specials) if reference else None,
                                 chat_template=template)
            a, b = sanitize_answer(pair.response_a, specials), sanitize_answer(pair.response_b, specials)
            try:
                fitted = fit_answers(parts, a, b, counter.count(a), counter.count(b), counter, budget)
            except PromptTooLong as exc:
                log.warning("pair %s: %s; skipped", pair.id, exc)
                self.summary.too_long += 1
                continue
            tasks.extend(_Task(pair, position, parts, fitted) for position in positions)
        return tasks

    def _round(self, tasks: list[_Task], writer: GroupCommitThread[dict[str, Any]]) -> list[_Task]:
        retry: list[_Task] = []

        def request_of(task: _Task, key: str) -> GenerationRequest:
            return task.request(self.judge, self.sampling, self.regex, self.logprobs, key)

        for out in judge_round(self.backend, tasks, request_of,
                               lambda task: task.attempt <= self.judge.max_invalid_retries, self.summary):
            if out.retry:
                out.item.attempt += 1
                retry.append(out.item)
                continue
            if self.error is not None:
                raise self.error
            writer.put(self._row(out.item, out.result, out.parsed.verdict, out.parsed.feedback))
        return retry

    def _row(self, task: _Task, result: GenerationResult, verdict: str | None, feedback: str) -> dict[str, Any]:
        return {
            "judge_key": self.judge_key, "item_fingerprint": task.pair.fingerprint, "position": task.position,
            "judge": self.judge.name, "rubric_id": self.rubric.id, "rubric_version": self.rubric.version,
            "prompt_version": PROMPT_VERSION, "raw_output": result.text, "feedback": feedback,
            "verdict": verdict, "valid": verdict is not None, "attempts": task.attempt,
            "p_a": p_a_from_logprobs(result.top_logprobs) if verdict is not None else None,
            "truncated": task.fitted.truncated, "seed": task.seed(self.judge),
            "finish_reason": result.finish_reason, "latency_s": result.latency_s,
        }

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        """Runs on the writer thread: one transaction per group of finished judgments."""
        if self.error is not None:
            return
        try:
            insert_verdicts(self.store, rows)
        except BaseException as exc:  # noqa: BLE001 - handed to the sending thread (a StoreError when
            self.error = exc  # the store is locked, read-only or broken)
            return
        for row in rows:
            self.summary.judgments += 1
            self.summary.invalid_judgments += int(not row["valid"])
            self.summary.truncated += int(row["truncated"])
            if self.bar is not None:
                self.bar.update(1)
