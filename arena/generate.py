"""Stage 1, `arena generate`: each selected model answers the questions it has not answered yet.

For every model, the questions whose current answer (same model, question and fingerprint) is
already in the store are reused; the rest are sent to the model's backend in one go and each
answer is committed the moment it comes back, so a run that dies loses nothing it finished
and the next run picks up the rest. An empty answer is a failed question, never stored. One model is loaded at a time and released before the
next. A model that fails (server down, weights that do not load) is reported and the others
still run; the summary's `failed` count makes the command exit non-zero.

Answers are committed by a writer thread that puts every answer waiting for it into one
transaction (group commit): each is saved within moments of arriving, and a fast backend is
never held back by one commit per answer.

`--force` regenerates the selected models' current answers: each answer row is updated in
place (same id) and the judgments and battles that judged its old text are deleted in the
same transaction, so `arena judge` judges the new text.

Each model's run goes into the cost ledger (`store/ledger`): its backend, GPUs, wall time from
asking for the backend to releasing it, and the tokens of the answers it stored.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from tqdm import tqdm

from arena import console
from arena.answers import chat_messages, expected_fingerprints
from arena.backends import make_backend
from arena.backends.base import Backend, GenerationRequest, GenerationResult, first_line, held_gpus
from arena.config import ArenaConfig, ModelConfig
from arena.errors import ArenaError, StoreError
from arena.questions.loading import load_questions
from arena.questions.schema import Question
from arena.store.answers import StoredAnswer, load_current_answers, save_answers, sync_questions
from arena.store.commit import GroupCommitThread
from arena.store.engine import Store, open_store, utcnow
from arena.store.leases import DEFAULT_LEASE_S, Leases
from arena.store.ledger import RunRecorder, RunStart, start_run

MAX_ERRORS_SHOWN = 5


@dataclass
class ModelSummary:
    model: str
    questions: int
    generated: int = 0
    reused: int = 0
    failed: int = 0
    truncated: int = 0
    by_others: int = 0  # of `reused`: answers other workers on this store made during this run
    error: str | None = None  # why the model failed as a whole, if it did
    store_failed: bool = False  # the store could not be written: the run tries no further model


@dataclass
class GenerateSummary:
    models: list[ModelSummary] = field(default_factory=list)

    @property
    def generated(self) -> int:
        return sum(m.generated for m in self.models)

    @property
    def reused(self) -> int:
        return sum(m.reused for m in self.models)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.models)

    @property
    def truncated(self) -> int:
        return sum(m.truncated for m in self.models)


BackendFactory = Callable[[ModelConfig], Backend]


@dataclass(frozen=True)
class GenerateRequest:
    """What a generation run is asked to do."""

    models: tuple[str, ...] | None = None  # the models to answer (None: every configured one)
    limit: int | None = None  # only the first N questions
    force: bool = False  # regenerate the current answers too, in place
    session: str | None = None  # the nightly run id, recorded on the cost ledger's runs
    batch: int = 256  # answers claimed (leased) at a time from the store, for concurrent workers
    lease_s: float = DEFAULT_LEASE_S  # a killed worker's answers are taken over by others after this


def run_generate(
    config: ArenaConfig,
    request: GenerateRequest = GenerateRequest(),
    *,
    backend_factory: BackendFactory = make_backend,
    out: TextIO | None = None,
    progress: bool = True,
) -> GenerateSummary:
    """Generate the missing answers of the selected models (all of them with `force`)."""
    models = config.select_models(list(request.models) if request.models else None)
    question_list = load_questions(config.questions)
    if request.limit is not None:
        question_list = question_list[:request.limit]
    store = open_store(config.storage_url)
    try:
        sync_questions(store, question_list)
        summary = GenerateSummary()
        for number, model in enumerate(models):
            done = generate_for_model(store, config, model, question_list, force=request.force,
                                      backend_factory=backend_factory, progress=progress, request=request)
            summary.models.append(done)
            if done.store_failed:  # every other model would load its engine only to fail the same way
                summary.models += [ModelSummary(model=m.name, questions=len(question_list),
                                                error="not tried: the store cannot be written")
                                   for m in models[number + 1:]]
                break
    finally:
        store.close()
    print_summary(summary, out or sys.stdout)
    return summary


def generate_for_model(
    store: Store,
    config: ArenaConfig,
    model: ModelConfig,
    question_list: list[Question],
    *,
    force: bool = False,
    backend_factory: BackendFactory = make_backend,
    progress: bool = True,
    request: GenerateRequest = GenerateRequest(),
) -> ModelSummary:
    """One model's missing answers, each committed as it arrives. Never raises ArenaError.

    The answers are claimed from the store in batches (leases, `store/leases.py`), so several
    workers on one store share the work; an answer another worker stored meanwhile is counted
    in `by_others`, not made again."""
    summary = ModelSummary(model=model.name, questions=len(question_list))
    try:
        fingerprints = expected_fingerprints(config, [model], question_list)
        current = load_current_answers(store, fingerprints)
    except ArenaError as exc:
        summary.failed, summary.error = len(question_list), str(exc)
        report_error(summary.error)
        return summary
    todo = list(question_list) if force else [q for q in question_list if (model.name, q.id) not in current]
    summary.reused = len(question_list) - len(todo)
    if not todo:
        return summary
    sampling = model.sampling_settings()
    requests = [
        GenerationRequest(key=q.id, sampling=sampling, messages=chat_messages(config, model, q)) for q in todo
    ]
    units = {f"answer:{model.name}:{r.key}:{fingerprints[(model.name, r.key)]}": r for r in requests}
    finished = 0
    backend: Backend | None = None
    bar: tqdm | None = None
    writer = AnswerWriter(store, summary, fingerprints, current if force else {})
    started, started_at = time.monotonic(), utcnow()
    leases = Leases(store, request.lease_s)
    lost = 0  # answers the batches' writers could not save
    recorder: RunRecorder | None = None  # the cost ledger's run, once the backend is made
    try:
        backend = backend_factory(model)
        recorder = writer.recorder = start_run(store, run_start(model, backend, request.session), started,
                                               started_at)
        bar = tqdm(total=len(todo), desc=model.name, unit="answer", file=console.err(), disable=not progress,
                   dynamic_ncols=True)
        leases.start()
        pending = list(units)
        while pending and writer.error is None:
            claimed = _claim_batch(leases, pending, request.batch)
            left = _still_missing(store, fingerprints, current if force else {}, [units[u] for u in claimed or pending])
            done_by_others = [u for u in (claimed or pending) if units[u].key not in left]
            summary.by_others += len(done_by_others)  # reused, and said to be others' work
            summary.reused += len(done_by_others)
            finished += len(done_by_others)
            bar.update(len(done_by_others))
            if not claimed:  # every pending answer is held by another worker: done yet, or wait
                pending = [u for u in pending if units[u].key in left]
                if pending:
                    time.sleep(min(5.0, request.lease_s / 4))
                continue
            for result in backend.generate([units[u] for u in claimed if units[u].key in left]):
                finished += 1
                refuse_empty(result)
                if result.ok:
                    writer.submit(result)
                else:
                    count_failure(summary, result)
                bar.update(1)
            writer.close()  # this batch committed before its leases go
            if writer.error is not None:
                break
            lost += writer.lost
            leases.release(claimed)
            writer = AnswerWriter(store, summary, fingerprints, current if force else {})
            writer.recorder = recorder
            taken = set(claimed)
            pending = [u for u in pending if u not in taken]
    except StoreError as exc:
        summary.error, summary.store_failed = str(exc), True
    except ArenaError as exc:
        summary.error = str(exc)
    except Exception as exc:  # an engine crash is this model's failure, not the run's
        summary.error = f"model {model.name!r}: {type(exc).__name__}: {first_line(exc)}"
    finally:
        writer.close()  # commits whatever is still queued, even on Ctrl-C
        leases.close()
        if bar is not None:
            bar.close()
        if backend is not None:
            close_quietly(backend)
        if recorder is not None:
            finish_quietly(recorder)
    if writer.error is not None and summary.error is None:
        summary.error = f"model {model.name!r}: saving answers failed: {writer.error}"
    summary.store_failed = summary.store_failed or writer.store_failed
    summary.failed += len(todo) - finished + writer.lost + lost
    if summary.error:
        report_error(summary.error)
    return summary


def run_start(model: ModelConfig, backend: Backend, session: str | None) -> RunStart:
    """The cost ledger's record of this model's run."""
    price = model.price_per_million_tokens
    return RunStart(kind="generate", name=model.name, backend=model.backend, gpus=held_gpus(backend, model.gpus),
                    session=session, price_prompt=price.prompt if price else None,
                    price_completion=price.completion if price else None)


def finish_quietly(recorder: RunRecorder) -> None:
    try:
        recorder.finish()
    except Exception as exc:  # the answers are saved; only the ledger's last totals are lost
        report_error(f"recording the run in the cost ledger: {type(exc).__name__}: {first_line(exc)}")


def _claim_batch(leases: Leases, pending: list[str], batch: int) -> list[str]:
    """The first batch of pending units this worker could claim; [] when others hold them all."""
    for start in range(0, len(pending), batch):
        claimed = leases.claim(pending[start:start + batch])
        if claimed:
            return claimed
    return []


def _still_missing(store: Store, fingerprints: dict[tuple[str, str], str], replaced: dict[tuple[str, str], StoredAnswer],
                   requests: list[GenerationRequest]) -> set[str]:
    """The question ids of these requests whose answer is still to make: not stored (or, with
    --force, still the text that was to be replaced), as the store says now."""
    wanted = {key: fingerprints[key] for key in fingerprints if key[1] in {r.key for r in requests}}
    now = load_current_answers(store, wanted)
    return {question_id for (model, question_id) in wanted
            if (model, question_id) not in now
            or (replaced.get((model, question_id)) is not None
                and now[(model, question_id)].text == replaced[(model, question_id)].text)}


def refuse_empty(result: GenerationResult) -> None:
    """An answer with no text (whitespace only) is a failure of that question, never a stored success:
    it would lose every battle without anyone noticing. The next run asks again."""
    if result.ok and not result.text.strip():
        result.error = f"empty answer (finish_reason {result.finish_reason or 'unknown'}); not stored"


def count_failure(summary: ModelSummary, result: GenerationResult) -> None:
    summary.failed += 1
    if summary.failed <= MAX_ERRORS_SHOWN:
        tqdm.write(f"error: model {summary.model!r}, question {result.key}: {result.error}", file=console.err())
    elif summary.failed == MAX_ERRORS_SHOWN + 1:
        tqdm.write(f"error: model {summary.model!r}: more failed answers not shown", file=console.err())


class AnswerWriter:
    """Commits answers on a group-commit thread (see `store.GroupCommitThread`).

    The thread alone updates the summary's generated/truncated/reused counts.
    """

    def __init__(self, store: Store, summary: ModelSummary, fingerprints: dict[tuple[str, str], str],
                 replaceable: dict[tuple[str, str], StoredAnswer]) -> None:
        self.store = store
        self.summary = summary
        self.fingerprints = fingerprints
        self.replaceable = replaceable
        self.error: str | None = None
        self.store_failed = False  # the error was the store's (full disk, read-only, locked)
        self.lost = 0  # answers that could not be saved after a store error
        self.recorder: RunRecorder | None = None  # the cost ledger's run, once the backend is made
        self.thread = GroupCommitThread(self._commit_group, name=f"arena-writer-{summary.model}")

    def submit(self, result: GenerationResult) -> None:
        if self.error is not None:
            raise StoreError(f"saving answers failed: {self.error}")
        self.thread.put(result)

    def close(self) -> None:
        self.thread.close()

    def _commit_group(self, results: list[GenerationResult]) -> None:
        if self.error is not None:
            self.lost += len(results)
            return
        try:
            save_answers(self.store, self.summary.model, results, self.fingerprints, self.replaceable,
                         saved=self._count, already_stored=self._kept)
            if self.recorder is not None:
                self.recorder.update_if_due()
        except ArenaError as exc:  # a full disk, a locked or read-only store: the store says which
            self.error, self.store_failed = str(exc), isinstance(exc, StoreError)
            self.lost += len(results)
        except Exception as exc:  # anything else the store did not expect
            self.error = f"{type(exc).__name__}: {first_line(exc)}"
            self.lost += len(results)

    def _count(self, result: GenerationResult) -> None:
        self.summary.generated += 1
        self.summary.truncated += int(result.truncated)
        if self.recorder is not None:
            self.recorder.add(result.prompt_tokens, result.completion_tokens)

    def _kept(self, result: GenerationResult) -> None:
        """Another run stored this answer meanwhile: theirs is kept (what this one spent still counts)."""
        self.summary.reused += 1
        if self.recorder is not None:
            self.recorder.add(result.prompt_tokens, result.completion_tokens)


def close_quietly(backend: Backend) -> None:
    try:
        backend.close()
    except Exception as exc:  # releasing memory failed; the answers are already saved
        report_error(f"closing model {backend.name!r}: {type(exc).__name__}: {first_line(exc)}")


def report_error(message: str) -> None:
    tqdm.write(f"error: {message}", file=console.err())


def print_summary(summary: GenerateSummary, out: TextIO) -> None:
    """The closing table: one row per model, then the reason for each model that failed."""
    headers = ("model", "questions", "generated", "reused", "failed", "truncated")
    rows = [(m.model, m.questions, m.generated, m.reused, m.failed, m.truncated) for m in summary.models]
    width = max([len(headers[0])] + [len(r[0]) for r in rows])
    print(f"{headers[0]:<{width}}  " + "  ".join(f"{h:>9}" for h in headers[1:]), file=out)
    for row in rows:
        print(f"{row[0]:<{width}}  " + "  ".join(f"{v:>9}" for v in row[1:]), file=out)
    for m in summary.models:
        if m.by_others:
            print(f"{m.model}: {m.by_others} answers were made meanwhile by other workers on this store", file=out)
        if m.error:
            print(f"{m.model}: failed: {m.error}", file=out)
    out.flush()
