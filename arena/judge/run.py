"""`arena judge`: judge every selected pair of stored answers in both orders, make battles.

The run is planned from the store first (`plan.py`; no model is loaded when nothing is
pending): pairs whose two judgments are valid are reused; pairs with a stored invalid judgment
are skipped unless `retry_invalid`; the rest are judged, at most `max_judgments` judgments per
run. Prompts go to the backend in one batch ordered question by question, pair by pair, the two
orders adjacent, so prefix caching computes a question's shared prefix once.

Each finished judgment is handed at once to a writer thread that commits it (`writer.py`,
group commit for bursts); the battle of a pair is committed with its second valid judgment.
An output without a valid final verdict (`verdict.py`: no single final marker, too little
feedback, or cut off by `max_tokens`) is retried with a new seed up to
`judge.max_invalid_retries` times, then stored as invalid: counted and reported, never
turned into a tie or a win. Stored invalid judgments are retried only with `retry_invalid`
(`arena judge --retry-invalid`), which overwrites them in place.

A question's reference answer is shown to the judge (Prometheus 2's relative prompt with a
reference) unless `judge.reference_answers` is off. Each judgment stores the fingerprint of the
reference it read; when a question's reference changes, its stored judgments judged a prompt
that no longer exists: the pair is judged again, its judgments overwritten in place and its
battle replaced, as when `arena generate --force` replaces an answer. Each judgment also stores
the seed sent with its final attempt and the backend's finish reason.

Each judgment stores the prompt and completion tokens of all the attempts that made it, and a
run that loads the judge goes into the cost ledger (`store/ledger`): backend, GPUs, wall time
from asking for the backend to releasing it, judgments and tokens.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from arena import console
from arena.backends.base import Backend, GenerationRequest, GenerationResult, held_gpus
from arena.config import ArenaConfig, JudgeConfig
from arena.errors import ConfigError
from arena.judge.calls import judge_round
from arena.judge.key import judge_rubric, require_judge
from arena.judge.pairs import Order, orders_disagree
from arena.judge.plan import (
    JudgeRequest,
    PairJob,
    Plan,
    build_plan,
    question_reference,
    reference_fingerprint,
    selected_models,
)
from arena.judge.prompt import PROMPT_VERSION, PromptParts, prompt_parts
from arena.judge.rubric import Rubric
from arena.judge.sanitize import sanitize_answer
from arena.judge.template import judge_chat_template
from arena.judge.truncate import (
    PromptTooLong,
    TokenCounter,
    fit_answers,
    fixed_tokens,
    load_token_counter,
    prompt_budget,
)
from arena.judge.verdict import p_a_from_logprobs, plain_verdict_regex, verdict_regex
from arena.judge.writer import Finished, JudgmentWriter, battle_row
from arena.questions.loading import load_questions
from arena.store.answers import sync_questions
from arena.store.engine import Store, open_store, utcnow
from arena.store.judgments import (
    battle_dedup_key,
    judge_writes,
    judgments_of_pairs,
    load_battle_keys,
)
from arena.store.leases import Leases
from arena.store.ledger import RunRecorder, RunStart, start_run

log = logging.getLogger(__name__)

TOP_LOGPROBS = 5


# --- the summary ------------------------------------------------------------------------------

@dataclass
class JudgeSummary:
    judge_key: str
    judge: str
    rubric: str
    constrained: bool | None = None  # None: no judge was loaded (nothing to judge)
    pairs_selected: int = 0
    judged: int = 0  # battles completed by this run
    reused: int = 0  # battles already complete before this run
    invalid: int = 0  # pairs that ended with an invalid judgment in this run
    invalid_stored: int = 0  # pairs skipped for a stored invalid judgment (see --retry-invalid)
    missing_answers: int = 0  # pairs without both current answers (run `arena generate`)
    too_long: int = 0  # pairs whose prompt cannot fit the judge's context even with short answers
    deferred: int = 0  # judgments left for a later run by --max-judgments
    reference_changed: int = 0  # pairs judged again because their question's reference changed
    judgments: int = 0  # judgment rows written
    invalid_judgments: int = 0
    retries: int = 0  # extra model calls for invalid outputs
    model_calls: int = 0
    errors: int = 0  # requests the backend failed (nothing stored for them)
    truncated: int = 0  # judgments whose answers were shortened to fit
    disagreements: int = 0  # judged battles whose two orders favoured different models
    by_others: int = 0  # planned pairs that other workers judged meanwhile (concurrent runs)
    elapsed_s: float = 0.0
    error_examples: list[str] = field(default_factory=list)
    adaptive_rounds: int | None = None  # adaptive selection (`rounds.py`): rounds judged; None: not adaptive
    adaptive_stop: str | None = None  # why the rounds stopped, one line
    not_run: str | None = None  # why this judge of a jury was not run (the run's budget was used), one line

    @property
    def failed(self) -> bool:
        """The backend failed requests: the run is incomplete (invalid verdicts are not failures)."""
        return self.errors > 0

    @property
    def disagreement_share(self) -> float | None:
        return self.disagreements / self.judged if self.judged else None

    def lines(self) -> list[str]:
        if self.not_run:
            return [f"judge {self.judge}: {self.not_run}"]
        modes = {True: "constrained decoding", False: "parse and retry", None: "judge not loaded"}
        mode = modes[self.constrained]
        lines = [
            f"judge {self.judge} (key {self.judge_key}), rubric {self.rubric}, {mode}",
            f"battles: {self.judged} judged, {self.reused} reused, {self.invalid} invalid"
            f" (of {self.pairs_selected} selected pairs)",
            f"judgments: {self.judgments} written ({self.invalid_judgments} invalid, {self.truncated} truncated),"
            f" {self.retries} retries, {self.model_calls} model calls in {self.elapsed_s:.1f} s",
        ]
        share = self.disagreement_share
        if share is not None:
            lines.append(f"position inconsistency: {self.disagreements} of {self.judged} judged battles "
                         f"({share:.1%}) split between the two orders (ties)")
        if self.invalid_stored:
            lines.append(f"skipped {self.invalid_stored} pairs with a stored invalid judgment "
                         "(rerun with --retry-invalid to judge them again)")
        if self.missing_answers:
            lines.append(f"skipped {self.missing_answers} pairs without both current answers (run `arena generate`)")
        if self.too_long:
            lines.append(f"skipped {self.too_long} pairs: question, reference and rubric leave no room "
                         "for the answers in the judge's context")
        if self.by_others:
            lines.append(f"{self.by_others} planned pairs were judged meanwhile by other workers on this store")
        if self.reference_changed:
            lines.append(f"{self.reference_changed} pairs judged again: their question's reference answer changed")
        if self.deferred:
            lines.append(f"{self.deferred} judgments left for a later run (--max-judgments)")
        if self.errors:
            lines.append(f"{self.errors} requests failed: {'; '.join(self.error_examples)}")
        if self.adaptive_rounds is not None:
            lines.append(f"adaptive: {self.adaptive_rounds} round(s), {self.judgments} judgments; {self.adaptive_stop}")
        return lines


# --- running ----------------------------------------------------------------------------------

@dataclass
class Prepared:
    job: PairJob
    order: Order
    parts: PromptParts
    attempt: int = 1
    seed: int | None = None  # the seed sent with this attempt
    # tokens of this pair order's earlier attempts in this run (invalid outputs retried)
    spent_prompt: int | None = None
    spent_completion: int | None = None


def run_judge(config: ArenaConfig, request: JudgeRequest = JudgeRequest(), *, backend: Backend | None = None,
              progress: bool = True) -> JudgeSummary:
    """Judge the pending pairs of `request`; returns what was done. `backend` replaces the configured one."""
    started = time.perf_counter()
    judge = require_judge(config)
    rubric = judge_rubric(config)
    selected_models(config, request)  # an unknown name fails before the store is made
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    try:
        sync_questions(store, question_list)
        plan = build_plan(config, store, rubric, question_list, request)
        summary = JudgeSummary(
            judge_key=plan.judge_key, judge=judge.name, rubric=f"{rubric.id} v{rubric.version}",
            pairs_selected=plan.pairs_selected, reused=len(plan.complete), invalid_stored=plan.invalid_stored,
            missing_answers=plan.missing_answers, deferred=plan.deferred,
            reference_changed=plan.reference_changed,
        )
        _repair_battles(store, plan, judge)
        if plan.jobs:
            owned = backend is None
            started_run, started_at = time.monotonic(), utcnow()
            backend = backend or make_backend(judge)
            recorder: RunRecorder | None = None
            try:
                recorder = start_run(store, _run_start(judge, plan, backend, request), started_run, started_at)
                _Runner(store, judge, rubric, plan, backend, summary, progress, request, recorder).run()
            finally:
                if owned:
                    backend.close()
                if recorder is not None:
                    _finish_quietly(recorder)
    finally:
        store.close()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def make_backend(judge: JudgeConfig) -> Backend:
    """The judge's configured backend (imported here: vLLM and torch load only when judging)."""
    from arena.backends import make_backend as make

    return make(judge)


def _run_start(judge: JudgeConfig, plan: Plan, backend: Backend, request: JudgeRequest) -> RunStart:
    """The cost ledger's record of this judge run."""
    price = judge.price_per_million_tokens
    return RunStart(kind="judge", name=judge.name, judge_key=plan.judge_key, backend=judge.backend,
                    gpus=held_gpus(backend, judge.gpus), session=request.session,
                    price_prompt=price.prompt if price else None,
                    price_completion=price.completion if price else None)


def _finish_quietly(recorder: RunRecorder) -> None:
    try:
        recorder.finish()
    except Exception as exc:  # the judgments are saved; only the ledger's last totals are lost
        console.say(f"error: recording the run in the cost ledger: {type(exc).__name__}: {exc}")


def _plus(a: int | None, b: int | None) -> int | None:
    """Two token counts added; None when neither is known."""
    return None if a is None and b is None else (a or 0) + (b or 0)


def _repair_battles(store: Store, plan: Plan, judge: JudgeConfig) -> None:
    """Pairs with two valid judgments but no battle (say, battles deleted) get their battle back."""
    if not plan.complete:
        return
    existing = load_battle_keys(store, plan.judge_key)
    rows = []
    for job in plan.complete:
        if battle_dedup_key(plan.judge_key, job.x.id, job.y.id) not in existing:
            ab, ba = job.stored["ab"], job.stored["ba"]
            rows.append(battle_row(plan.judge_key, judge.name, job, ab.id, ab.verdict or "", ba.id, ba.verdict or ""))
    if rows:
        with judge_writes(store) as writes:
            writes.insert_battles(rows)


def derive_seed(base: int | None, *parts: object) -> int | None:
    """A per-request seed from the configured seed and what the request judges (None: no seed)."""
    if base is None:
        return None
    digest = hashlib.blake2b("\x1f".join(map(str, (base, *parts))).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


def request_seed(base: int | None, answer_a_id: int, answer_b_id: int, attempt: int) -> int | None:
    """A per-request seed from the configured seed: repeatable runs, a new seed for each retry."""
    return derive_seed(base, answer_a_id, answer_b_id, attempt)


def uses_constrained_decoding(judge: JudgeConfig, backend: Backend) -> bool:
    """`constrained: auto` constrains where the backend can; `on` insists (ConfigError if it cannot)."""
    supports = bool(getattr(backend, "supports_regex", False))
    if judge.constrained == "on" and not supports:
        raise ConfigError(
            f"judge {judge.name!r}: constrained: on, but its backend cannot constrain decoding "
            "(vLLM offline or served, OpenVINO and llama.cpp servers can); use constrained: auto or off"
        )
    return judge.constrained == "on" or (judge.constrained == "auto" and supports)


def judge_regex(backend: Backend, max_tokens: int) -> str:
    """The verdict regex for this backend: the plain form where the engine's regex support is simple."""
    plain = getattr(backend, "plain_regex_only", False)
    return plain_verdict_regex(max_tokens) if plain else verdict_regex(max_tokens)


def logprobs_wanted(judge: JudgeConfig, backend: Backend, constrained: bool = False) -> int | None:
    """How many top logprobs to ask for (for P(A)), or None.

    None also where the backend's logprobs under a constraint are the unconstrained distribution's
    (llama.cpp under a grammar): a P(A) from them would be meaningless, so none is stored.
    """
    if constrained and not getattr(backend, "logprobs_follow_constraint", True):
        return None
    return TOP_LOGPROBS if judge.logprobs and getattr(backend, "supports_logprobs", False) else None


class _Runner:
    """Sends the prompts, retries invalid outputs, and commits judgments and battles."""

    def __init__(self, store: Store, judge: JudgeConfig, rubric: Rubric, plan: Plan, backend: Backend,
                 summary: JudgeSummary, progress: bool, request: JudgeRequest,
                 recorder: RunRecorder | None = None) -> None:
        self.store, self.judge, self.rubric, self.plan = store, judge, rubric, plan
        self.request = request
        self.recorder = recorder
        self.backend, self.summary, self.progress = backend, summary, progress
        self.constrained = uses_constrained_decoding(judge, backend)
        summary.constrained = self.constrained
        self.regex = judge_regex(backend, judge.sampling.max_tokens) if self.constrained else None
        self.logprobs = logprobs_wanted(judge, backend, self.constrained)
        self.budget = prompt_budget(judge)
        self.chat_template = judge_chat_template(judge)
        self.sampling = judge.sampling_settings()  # each request: these, with its own seed
        self.bar: Any = None  # the tqdm bar while the run is on
        self.reference_fingerprints = {job.question.id: reference_fingerprint(question_reference(job.question, judge))
                                       for job in plan.jobs}

    def run(self) -> None:
        counter = load_token_counter(self.judge)
        prepared = self._prepare(counter)
        units: dict[str, list[Prepared]] = {}  # a unit of work (leased to one worker) is a pair
        for item in prepared:
            units.setdefault(battle_dedup_key(self.plan.judge_key, item.job.x.id, item.job.y.id), []).append(item)
        from tqdm import tqdm

        with tqdm(total=len(prepared), desc="judge", unit="judgment", file=console.err(),
                  disable=not self.progress, dynamic_ncols=True) as bar:
            self.bar = bar
            leases = Leases(self.store, self.request.lease_s).start()
            try:
                self._work_through(units, leases)
            finally:
                leases.close()

    def _work_through(self, units: dict[str, list[Prepared]], leases: Leases) -> None:
        """Claim batches of pending pairs until none is left: judged here, or by other workers."""
        pending = list(units)
        while pending:
            claimed: list[str] = []
            for start in range(0, len(pending), self.request.batch_pairs):
                claimed = leases.claim(pending[start:start + self.request.batch_pairs])
                if claimed:
                    break
            if not claimed:  # every pending pair is held by another worker: done yet, or wait
                left = {id(unit) for unit in self._still_to_judge([units[key] for key in pending])}
                pending = [key for key in pending if id(units[key]) in left]
                if pending:
                    time.sleep(min(5.0, self.request.lease_s / 4))
                continue
            self._judge_batch([units[unit] for unit in claimed])
            leases.release(claimed)
            done = set(claimed)
            pending = [unit for unit in pending if unit not in done]

    def _judge_batch(self, batch: list[list[Prepared]]) -> None:
        items = [item for unit in self._still_to_judge(batch) for item in unit if item.order in item.job.todo]
        writer = JudgmentWriter(self.store, self.plan.judge_key, self.judge.name, self._committed)
        try:
            round_items = items
            while round_items:
                round_items = self._round(round_items, writer)
        finally:
            writer.close()
            if writer.duplicates and self.bar is not None:
                self.bar.update(writer.duplicates)

    def _still_to_judge(self, units: list[list[Prepared]]) -> list[list[Prepared]]:
        """Refresh pairs from the store: orders another worker judged since the plan are done
        (counted, and kept as stored); the pairs with something left to judge."""
        wanted = [item.job.answer_ids(order) for unit in units for item in unit[:1] for order in item.job.todo]
        now = judgments_of_pairs(self.store, self.plan.judge_key, wanted)
        left = []
        for unit in units:
            job = unit[0].job
            for order in list(job.todo):
                found = now.get(job.answer_ids(order))
                if found is not None and found != job.stored.get(order):
                    job.todo.remove(order)
                    job.stored[order] = found
                    job.stale.discard(order)
                    if self.bar is not None:
                        self.bar.update(1)
            if job.todo:
                left.append(unit)
            else:
                self.summary.by_others += 1
        return left

    def _prepare(self, counter: TokenCounter) -> list[Prepared]:
        """Sanitise and count each answer once, fit each pair once; both orders use the same texts."""
        specials = counter.special_tokens
        answers = {a.id: a for job in self.plan.jobs for a in (job.x, job.y)}
        clean = {answer_id: sanitize_answer(a.text, specials) for answer_id, a in answers.items()}
        token_counts = dict(zip(clean, counter.count_many(list(clean.values())), strict=False))
        parts_by_question: dict[str, tuple[PromptParts, int]] = {}
        prepared: list[Prepared] = []
        for job in self.plan.jobs:
            question = job.question
            if question.id not in parts_by_question:
                reference = question_reference(question, self.judge)
                shown = sanitize_answer(reference, specials) if reference is not None else None
                parts = prompt_parts(sanitize_answer(question.text, specials), self.rubric.text, shown,
                                     chat_template=self.chat_template)
                parts_by_question[question.id] = (parts, fixed_tokens(parts, counter))
            parts, fixed = parts_by_question[question.id]
            try:
                job.fitted = fit_answers(parts, clean[job.x.id], clean[job.y.id], token_counts[job.x.id],
                                         token_counts[job.y.id], counter, self.budget, fixed)
            except PromptTooLong as exc:
                log.warning("question %s: %s; pair %s / %s skipped", question.id, exc, job.x.model, job.y.model)
                self.summary.too_long += 1
                continue
            prepared.extend(Prepared(job, order, parts) for order in job.todo)
        return prepared

    def _request(self, item: Prepared, key: str) -> GenerationRequest:
        fitted = item.job.fitted
        assert fitted is not None
        shown_a, shown_b = (fitted.x, fitted.y) if item.order == "ab" else (fitted.y, fitted.x)
        answer_a, answer_b = item.job.answer_ids(item.order)
        item.seed = request_seed(self.judge.sampling.seed, answer_a, answer_b, item.attempt)
        return GenerationRequest(
            key=key,
            prompt=item.parts.join(shown_a, shown_b),
            sampling=replace(self.sampling, seed=item.seed),
            regex=self.regex,
            logprobs=self.logprobs,
        )

    def _round(self, items: list[Prepared], writer: JudgmentWriter) -> list[Prepared]:
        """Send one batch; returns the invalid outputs to try again."""
        retry: list[Prepared] = []
        for out in judge_round(self.backend, items, self._request,
                               lambda item: item.attempt <= self.judge.max_invalid_retries, self.summary):
            item, result = out.item, out.result
            if out.retry:
                retry.append(Prepared(item.job, item.order, item.parts, item.attempt + 1,
                                      spent_prompt=_plus(item.spent_prompt, result.prompt_tokens),
                                      spent_completion=_plus(item.spent_completion, result.completion_tokens)))
                continue
            writer.submit(Finished(item.job, item.order,
                                   self._values(item, result, out.parsed.verdict, out.parsed.feedback)))
        return retry

    def _values(self, item: Prepared, result: GenerationResult, verdict: str | None, feedback: str) -> dict:
        """The judgment's columns."""
        job, order = item.job, item.order
        model_a, model_b = job.models(order)
        answer_a, answer_b = job.answer_ids(order)
        previous = job.stored.get(order)
        retried = previous.attempts if previous is not None and order not in job.stale else 0
        return {
            "judge_key": self.plan.judge_key, "question_id": job.question.id,
            "model_a": model_a, "model_b": model_b, "answer_a_id": answer_a, "answer_b_id": answer_b,
            "judge": self.judge.name, "rubric_id": self.rubric.id, "rubric_version": self.rubric.version,
            "prompt_version": PROMPT_VERSION, "raw_output": result.text, "feedback": feedback,
            "verdict": verdict, "valid": verdict is not None,
            "attempts": item.attempt + retried,
            "p_a": p_a_from_logprobs(result.top_logprobs) if verdict is not None else None,
            "truncated": bool(job.fitted and job.fitted.truncated), "latency_s": result.latency_s,
            "seed": item.seed,
            "finish_reason": result.finish_reason,
            "reference_fingerprint": self.reference_fingerprints[job.question.id],
            "prompt_tokens": _plus(item.spent_prompt, result.prompt_tokens),
            "completion_tokens": _plus(item.spent_completion, result.completion_tokens),
        }

    def _committed(self, finished: Finished, pair: tuple[str | None, str | None] | None) -> None:
        """Count a committed judgment (runs on the writer thread)."""
        summary = self.summary
        summary.judgments += 1
        summary.truncated += int(bool(finished.values["truncated"]))
        if finished.values["verdict"] is None:
            summary.invalid_judgments += 1
        if self.recorder is not None:
            self.recorder.add(finished.values["prompt_tokens"], finished.values["completion_tokens"])
            self.recorder.update_if_due()
        if self.bar is not None:
            self.bar.update(1)
        if pair is None:
            return
        ab, ba = pair
        if ab is None or ba is None:
            summary.invalid += 1
            return
        summary.judged += 1
        summary.disagreements += int(orders_disagree(ab, ba))
