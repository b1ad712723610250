"""`arena rate`: read one source's battles, keep the current ones, rate them (or reuse a snapshot), store it.

For judged battles only current answers count: both answers of a battle must be the ones the
current settings call for (the model's answer fingerprint, which covers the question text) and
the judge key must be the current judge's and rubric's. Battles of superseded answers stay in
the store (`arena battles export` still has them) and are never mixed into a board. The
snapshot records the set of answers it rated and the newest battle it saw, so the dashboard
shows exactly its battles; the set is part of the snapshot key (through the battles' digest).

When nothing changed (the same parameters, and aggregates of the stored battles, the questions
and the current answers equal to those the latest snapshot read), that snapshot is reused
without reading a battle: a nightly run with nothing new costs about a second.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from arena import console
from arena.answers import expected_fingerprints
from arena.config import ArenaConfig
from arena.errors import ArenaError
from arena.fingerprint import fingerprint
from arena.questions.loading import load_questions
from arena.ratings.bt import PRIOR_SD_ELO
from arena.ratings.build import RatingOptions, build_report, judge_board
from arena.ratings.compare import HeadToHead, head_to_head
from arena.ratings.cost import read_cost
from arena.ratings.data import battles_fingerprint, load_battles
from arena.ratings.diagnostics import judge_diagnostics
from arena.ratings.elo import online_elo
from arena.ratings.jury import agreement, jury_battle_set, line_up
from arena.ratings.report import (
    DEFAULT_BOOTSTRAP_ROUNDS,
    MIN_CATEGORY_BATTLES,
    MIN_MODEL_BATTLES,
    NO_DIAGNOSTICS,
    Anchor,
    JudgeBoard,
    RatingParams,
)
from arena.ratings.resample import BootstrapKind
from arena.ratings.snapshots import Snapshot, reusable_snapshot, save_snapshot, snapshot_of_inputs
from arena.ratings.style import COVARIATES
from arena.store.answers import current_answer_ids
from arena.store.battles import (
    BattleSelection,
    battle_sources,
    newest_judge_key,
    newest_judge_name,
    question_info,
    stored_inputs_digest,
)
from arena.store.engine import Store, open_store
from arena.store.judgments import judged_rubric, judgment_counts
from arena.store.schema import JUDGE_SOURCE
from arena.store.snapshots import answer_set_digest, save_answer_set


@dataclass(frozen=True)
class RateRequest:
    source: str = JUDGE_SOURCE
    category: str | None = None
    bootstrap_rounds: int = DEFAULT_BOOTSTRAP_ROUNDS
    bootstrap: BootstrapKind = "question"
    anchor: Anchor | None = None
    seed: int = 0
    style: tuple[str, ...] = COVARIATES
    min_category_battles: int = MIN_CATEGORY_BATTLES
    min_model_battles: int = MIN_MODEL_BATTLES
    compare: tuple[str, str] | None = None  # print how these two compare; not part of the snapshot


@dataclass(frozen=True)
class RateResult:
    snapshot: Snapshot
    reused: bool  # an identical earlier snapshot was found; nothing was refitted
    comparison: HeadToHead | None = None


def run_rate(config: ArenaConfig, request: RateRequest, store: Store | None = None) -> RateResult:
    own_store = store is None
    store = store or open_store(config.storage_url, create=False)
    try:
        return with_cost(_rate(config, request, store), store)
    finally:
        if own_store:
            store.close()


def _rate(config: ArenaConfig, request: RateRequest, store: Store) -> RateResult:
    judged = request.source == JUDGE_SOURCE
    if judged and len(config.jury) > 1:
        return _rate_jury(config, request, store)
    # One side thread overlaps the main line's reads: SQLite and hashing release Python's lock.
    with ThreadPoolExecutor(max_workers=1) as side:
        return _rate_one_judge(config, request, store, side)


def _rate_one_judge(config: ArenaConfig, request: RateRequest, store: Store, side: ThreadPoolExecutor) -> RateResult:
    judged = request.source == JUDGE_SOURCE
    current_later = side.submit(current_answers, store, config) if judged else None
    judge_key, key_note = resolve_judge_key(config, store, request.source)
    selection = BattleSelection(request.source, judge_key, view=request.category)
    stored_digest = stored_inputs_digest(store, selection)
    current = current_later.result() if current_later is not None else None
    inputs = fingerprint([stored_digest, None if current is None else answer_set_digest(current)], length=32)
    params = _params(config, request, judged)
    # nothing changed since the latest snapshot: reuse it without reading a battle
    unchanged = snapshot_of_inputs(store, source=request.source, category=request.category, judge_key=judge_key,
                                   inputs=inputs, params=params)
    if unchanged is not None:
        return RateResult(unchanged, reused=True, comparison=_compare(unchanged, request))
    counts_later = side.submit(judgment_counts, store, judge_key) if judged and judge_key else None
    bs = load_battles(store, selection)
    notes = [key_note] if key_note else []
    if current is not None:
        keep = np.isin(bs.answer_a, current) & np.isin(bs.answer_b, current)
        superseded = int((~keep).sum())
        if superseded:
            bs = bs.subset(keep)
            notes.append(f"{superseded} battle(s) of superseded answers (older answer settings or question text) "
                         "are kept in the store but not rated")
    if bs.n_battles == 0:
        raise ArenaError(_no_battles_message(store, request, judge_key))
    rated_answers = np.concatenate([bs.answer_a, bs.answer_b])
    digest_later = side.submit(battles_fingerprint, bs)
    selection = replace(selection, answer_set=answer_set_digest(rated_answers) if judged else None,
                        max_battle_id=int(bs.battle_id.max()))
    params = replace(params, answer_set=selection.answer_set)
    # hashing releases Python's lock and online Elo holds it: the two run side by side
    online = online_elo(bs.a, bs.b, bs.score_a, bs.n_models)
    battles_digest = digest_later.result()
    existing = reusable_snapshot(store, source=request.source, category=request.category, judge_key=judge_key,
                                 battles_fingerprint=battles_digest, params=params)
    if existing is not None:
        return RateResult(existing, reused=True, comparison=_compare(existing, request))
    console.say(f"rating {bs.n_battles} battles ({request.bootstrap_rounds} {request.bootstrap}-level bootstrap "
                "rounds)...")
    if judged and request.category is None:
        missing = [m.name for m in config.models if m.name not in bs.models]
        if missing:
            notes.append(f"no current judged battles yet, not rated: {', '.join(missing)}")
    options = _options(request)
    report = build_report(bs, options, params, selection=selection,
                          diagnostics=judge_diagnostics(bs, counts_later.result() if counts_later else None),
                          notes=tuple(notes), with_views=request.category is None, inputs=inputs, online=online)
    save_answer_set(store, rated_answers)
    snapshot = save_snapshot(store, report, battles_fingerprint=battles_digest,
                             judge=_judge_name(config, store, selection), rubric=_rubric(config, store, judge_key))
    return RateResult(snapshot, reused=False, comparison=_compare(snapshot, request))


def with_cost(result: RateResult, store: Store) -> RateResult:
    """The result with the store's cost ledger as it is now on its report (a reused snapshot's
    battles are unchanged, what was spent may not be)."""
    report = replace(result.snapshot.report, cost=read_cost(store))
    return replace(result, snapshot=replace(result.snapshot, report=report))
def _rate_jury(config: ArenaConfig, request: RateRequest, store: Store) -> RateResult:
    """A jury's report: the jury board (and views) of the combined verdicts (`jury.JURY_RULE`),
    each judge's own board, and the judges' agreement; one snapshot under the jury's key."""
    from arena.judge.key import jury_judge_keys

    jurors = jury_judge_keys(config)
    keys = tuple(key for _, key in jurors)
    jury_key = fingerprint({"jury": sorted(keys)})
    selection = BattleSelection(request.source, None, view=request.category, judge_keys=keys)
    current = current_answers(store, config)
    inputs = fingerprint([stored_inputs_digest(store, selection), answer_set_digest(current)], length=32)
    params = _params(config, request, True)
    unchanged = snapshot_of_inputs(store, source=request.source, category=request.category, judge_key=jury_key,
                                   inputs=inputs, params=params)
    if unchanged is not None:
        return RateResult(unchanged, reused=True, comparison=_compare(unchanged, request))
    notes: list[str] = []
    sets = []
    for name, key in jurors:
        bs = load_battles(store, BattleSelection(request.source, key, view=request.category))
        keep = np.isin(bs.answer_a, current) & np.isin(bs.answer_b, current)
        if (~keep).any():
            notes.append(f"judge {name}: {int((~keep).sum())} battle(s) of superseded answers are kept in the "
                         "store but not rated")
        sets.append(bs.subset(keep))
    lined = line_up([name for name, _ in jurors], sets)
    combined = jury_battle_set(lined, sets, question_info(store))
    if combined.n_battles == 0:
        judged_by = ", ".join(f"{name} {bs.n_battles}" for (name, _), bs in zip(jurors, sets, strict=True))
        raise ArenaError(f"no battles judged by more than half of the jury's judges (battles per judge: {judged_by}); "
                         "run `arena generate` and `arena judge` first")
    rated_answers = np.concatenate([a for bs in sets for a in (bs.answer_a, bs.answer_b)])
    selection = replace(selection, answer_set=answer_set_digest(rated_answers),
                        max_battle_id=max(int(bs.battle_id.max()) for bs in sets if bs.n_battles))
    params = replace(params, answer_set=selection.answer_set)
    battles_digest = fingerprint([battles_fingerprint(bs) for bs in (*sets, combined)], length=32)
    existing = reusable_snapshot(store, source=request.source, category=request.category, judge_key=jury_key,
                                 battles_fingerprint=battles_digest, params=params)
    if existing is not None:
        return RateResult(existing, reused=True, comparison=_compare(existing, request))
    console.say(f"rating a jury of {len(jurors)} judges: {combined.n_battles} jury battles "
                f"({request.bootstrap_rounds} {request.bootstrap}-level bootstrap rounds)...")
    if request.category is None:
        missing = [m.name for m in config.models if m.name not in combined.models]
        if missing:
            notes.append(f"no jury battles yet, not rated: {', '.join(missing)}")
    options = _options(request)
    report = build_report(combined, options, params, selection=selection, diagnostics=NO_DIAGNOSTICS,
                          notes=tuple(notes), with_views=request.category is None, inputs=inputs)
    boards = tuple(JudgeBoard(name, key, judge_board(bs, options), judge_diagnostics(bs, judgment_counts(store, key)))
                   for (name, key), bs in zip(jurors, sets, strict=True))
    report = replace(report, judge_key=jury_key, judges=boards, agreement=agreement(lined))
    save_answer_set(store, rated_answers)
    snapshot = save_snapshot(store, report, battles_fingerprint=battles_digest,
                             judge="jury: " + ", ".join(name for name, _ in jurors),
                             rubric=_rubric(config, store, keys[0]))
    return RateResult(snapshot, reused=False, comparison=_compare(snapshot, request))


def _options(request: RateRequest) -> RatingOptions:
    return RatingOptions(bootstrap=request.bootstrap, rounds=request.bootstrap_rounds, seed=request.seed,
                         anchor=request.anchor, style=request.style,
                         min_category_battles=request.min_category_battles,
                         min_model_battles=request.min_model_battles)


def _params(config: ArenaConfig, request: RateRequest, judged: bool) -> RatingParams:
    """The request's parameters; the set of answers rated is added once the battles are read."""
    return RatingParams(
        bootstrap=request.bootstrap, bootstrap_rounds=request.bootstrap_rounds, seed=request.seed,
        anchor=request.anchor, style=request.style, min_category_battles=request.min_category_battles,
        min_model_battles=request.min_model_battles, prior_sd_elo=PRIOR_SD_ELO, answer_set=None,
        configured_models=tuple(sorted(m.name for m in config.models)) if judged else None,
    )


def current_answers(store: Store, config: ArenaConfig) -> np.ndarray:
    """The ids of the answers the current settings and question texts call for."""
    expected = expected_fingerprints(config, config.models, load_questions(config.questions))
    return np.asarray(current_answer_ids(store, expected), dtype=np.int64)


def _compare(snapshot: Snapshot, request: RateRequest) -> HeadToHead | None:
    if request.compare is None:
        return None
    params = snapshot.report.params
    return head_to_head(snapshot.report.board, *request.compare, params.bootstrap, params.bootstrap_rounds)


def resolve_judge_key(config: ArenaConfig, store: Store, source: str) -> tuple[str | None, str | None]:
    """The judge key whose battles to rate (None for imported sources), and a note if guessed."""
    if source != JUDGE_SOURCE:
        return None, None
    try:
        from arena.judge import current_judge_key
    except ImportError:
        return newest_judge_key(store), "the judge stage is not installed: rated the judge key of the latest judged battles"
    return current_judge_key(config), None


def _no_battles_message(store: Store, request: RateRequest, judge_key: str | None) -> str:
    where = f"source {request.source!r}"
    if request.category:
        where += f", category {request.category!r}"
    if request.source == JUDGE_SOURCE:
        return (f"no judged battles of current answers for the current judge and rubric (judge key {judge_key}) "
                f"in {where}; run `arena generate` and `arena judge` first")
    sources = battle_sources(store)
    known = f" (sources in the store: {', '.join(sources)})" if sources else ""
    return f"no battles in {where}{known}"


def _judge_name(config: ArenaConfig, store: Store, selection: BattleSelection) -> str | None:
    """The judge named on the newest rated battle, else the configured judge."""
    name = newest_judge_name(store, selection)
    return name or (config.judge.name if config.judge else None)


def _rubric(config: ArenaConfig, store: Store, judge_key: str | None) -> str | None:
    if judge_key is None:
        return None
    return judged_rubric(store, judge_key) or config.rubric.stem
