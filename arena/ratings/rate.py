"""`arena rate`: read the battles of one source, rate them (or reuse an identical snapshot), store it."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select

from arena.config import ArenaConfig
from arena.errors import ArenaError
from arena.ratings.data import BattleSet, battles_fingerprint, load_battles
from arena.ratings.diagnostics import judge_diagnostics
from arena.ratings.report import (
    DEFAULT_BOOTSTRAP_ROUNDS,
    MIN_CATEGORY_BATTLES,
    PAYLOAD_VERSION,
    Anchor,
    Snapshot,
    build_payload,
    reusable_snapshot,
    save_snapshot,
)
from arena.store import Store, battles, judgments, open_store

JUDGE_SOURCE = "judge"


@dataclass(frozen=True)
class RateRequest:
    source: str = JUDGE_SOURCE
    category: str | None = None
    bootstrap_rounds: int = DEFAULT_BOOTSTRAP_ROUNDS
    anchor: Anchor | None = None
    seed: int = 0
    min_category_battles: int = MIN_CATEGORY_BATTLES


@dataclass(frozen=True)
class RateResult:
    snapshot: Snapshot
    reused: bool  # an identical earlier snapshot was found; nothing was refitted


def run_rate(config: ArenaConfig, request: RateRequest, store: Store | None = None) -> RateResult:
    own_store = store is None
    store = store or open_store(config.storage_url, create=False)
    try:
        return _rate(config, request, store)
    finally:
        if own_store:
            store.close()


def _rate(config: ArenaConfig, request: RateRequest, store: Store) -> RateResult:
    judge_key, key_note = resolve_judge_key(config, store, request.source)
    frame = load_battles(store, request.source, judge_key, request.category)
    if frame.empty:
        raise ArenaError(_no_battles_message(store, request, judge_key))
    fingerprint = battles_fingerprint(frame)
    params = {
        "version": PAYLOAD_VERSION,
        "bootstrap_rounds": request.bootstrap_rounds,
        "anchor": [request.anchor.model, request.anchor.rating] if request.anchor else None,
        "seed": request.seed,
        "min_category_battles": request.min_category_battles,
        "configured_models": sorted(m.name for m in config.models) if request.source == JUDGE_SOURCE else None,
    }
    existing = reusable_snapshot(store, source=request.source, category=request.category, judge_key=judge_key,
                                 battles_fingerprint=fingerprint, params=params)
    if existing is not None:
        return RateResult(existing, reused=True)
    print(f"rating {len(frame)} battles ({request.bootstrap_rounds} bootstrap rounds)...", file=sys.stderr)
    payload = build_payload(
        BattleSet.from_frame(frame),
        source=request.source,
        judge_key=judge_key,
        category=request.category,
        bootstrap_rounds=request.bootstrap_rounds,
        anchor=request.anchor,
        seed=request.seed,
        diagnostics=judge_diagnostics(store if request.source == JUDGE_SOURCE else None, frame, judge_key),
        min_category_battles=request.min_category_battles,
        with_categories=request.category is None,
        params=params,
    )
    if key_note:
        payload["notes"].append(key_note)
    if request.source == JUDGE_SOURCE:
        rated = {row["model"] for row in payload["leaderboard"]}
        missing = [m.name for m in config.models if m.name not in rated]
        if missing and request.category is None:
            payload["notes"].append(f"no judged battles yet, not rated: {', '.join(missing)}")
    snapshot = save_snapshot(store, payload, battles_fingerprint=fingerprint, judge=_judge_name(config, frame),
                             rubric=_rubric(config, store, judge_key))
    return RateResult(snapshot, reused=False)


def resolve_judge_key(config: ArenaConfig, store: Store, source: str) -> tuple[str | None, str | None]:
    """The judge key whose battles to rate (None for imported sources), and a note if guessed."""
    if source != JUDGE_SOURCE:
        return None, None
    try:
        from arena.judge import current_judge_key
    except ImportError:
        query = (select(battles.c.judge_key).where(battles.c.source == JUDGE_SOURCE)
                 .order_by(battles.c.tstamp.desc(), battles.c.id.desc()).limit(1))
        with store.connect() as connection:
            latest = connection.execute(query).scalar()
        return latest, "the judge stage is not installed: rated the judge key of the latest judged battles"
    return current_judge_key(config), None


def _no_battles_message(store: Store, request: RateRequest, judge_key: str | None) -> str:
    where = f"source {request.source!r}"
    if request.category:
        where += f", category {request.category!r}"
    if request.source == JUDGE_SOURCE:
        return (f"no judged battles for the current judge and rubric (judge key {judge_key}) in {where}; "
                "run `arena judge` first")
    with store.connect() as connection:
        sources = sorted(s for s in connection.execute(select(battles.c.source).distinct()).scalars())
    known = f" (sources in the store: {', '.join(sources)})" if sources else ""
    return f"no battles in {where}{known}"


def _judge_name(config: ArenaConfig, frame: pd.DataFrame) -> str | None:
    names = Counter(frame["judge"].dropna())
    if names:
        return names.most_common(1)[0][0]
    return config.judge.name if config.judge else None


def _rubric(config: ArenaConfig, store: Store, judge_key: str | None) -> str | None:
    if judge_key is None:
        return None
    query = (select(judgments.c.rubric_id, judgments.c.rubric_version)
             .where(judgments.c.judge_key == judge_key).limit(1))
    with store.connect() as connection:
        row = connection.execute(query).first()
    return f"{row.rubric_id}@{row.rubric_version}" if row else config.rubric.stem
