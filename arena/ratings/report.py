"""The rating report (leaderboard, matrices, categories, length control, diagnostics) and snapshots.

`build_payload` turns a BattleSet into the JSON payload that `arena rate` prints and stores and
that the dashboard and the nightly history read (keys documented in `build_payload`).
`save_snapshot` stores it unless the latest snapshot of the same kind already has the same battles
and parameters; `latest_snapshot` and `snapshot_history` read them back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from arena.errors import ArenaError
from arena.ratings.bt import (
    ALPHA,
    PSEUDO_TIES_PER_PAIR,
    bootstrap_bt,
    fit_bt,
    pair_counts,
    ranks_with_ci,
    to_elo,
    win_probability,
)
from arena.ratings.data import AUDIENCE_PREFIX, BattleSet
from arena.ratings.elo import K_FACTOR, online_elo
from arena.ratings.length import Z_95, elo_intervals, fit_length_controlled, normalised_length_difference
from arena.store import Store, snapshots, utcnow

METHOD = "bradley-terry"
PAYLOAD_VERSION = 1  # bump when the numbers a payload holds would change for the same battles
DEFAULT_BOOTSTRAP_ROUNDS = 1000
MIN_CATEGORY_BATTLES = 50


@dataclass(frozen=True)
class Anchor:
    model: str
    rating: float

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`MODEL=RATING`."""
        model, sep, rating = text.rpartition("=")
        try:
            value = float(rating)
        except ValueError:
            value = float("nan")
        if not sep or not model or not np.isfinite(value):
            raise ArenaError(f"--anchor {text!r}: expected MODEL=RATING, for example llama-3-8b=1000")
        return cls(model, value)


@dataclass
class Ratings:
    """One Bradley-Terry fit with bootstrap intervals, on the Elo scale."""

    models: list[str]
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank: np.ndarray
    rank_worst: np.ndarray
    battles: np.ndarray
    win_rate: np.ndarray
    counts: Any  # PairCounts
    regularised: bool
    notes: list[str] = field(default_factory=list)


def rate(bs: BattleSet, rounds: int, anchor: Anchor | None = None, seed: int = 0) -> Ratings:
    """Fit, bootstrap and rank the battles in `bs`."""
    if bs.n_battles == 0:
        raise ArenaError("no battles to rate")
    if bs.n_models < 2:
        raise ArenaError(f"only one model ({bs.models[0]}) in these battles; ratings need at least two")
    anchor_index = None
    if anchor is not None:
        if anchor.model not in bs.models:
            raise ArenaError(f"--anchor: model {anchor.model!r} has no battles here (models: {', '.join(bs.models)})")
        anchor_index = bs.models.index(anchor.model)
    pc = pair_counts(bs.a, bs.b, bs.score_a, bs.n_models)
    fit = fit_bt(pc)
    boot = bootstrap_bt(pc, fit, rounds, seed=seed)
    anchor_rating = anchor.rating if anchor else 0.0
    rating = to_elo(fit.theta, anchor_index, anchor_rating)
    if rounds > 0:
        ci_low, ci_high = np.percentile(to_elo(boot.theta, anchor_index, anchor_rating), [2.5, 97.5], axis=0)
    else:
        ci_low, ci_high = rating.copy(), rating.copy()
    rank, worst = ranks_with_ci(ci_low, ci_high)
    battles = bs.battles_per_model()
    notes = _regularisation_notes(bs, fit.regularised, boot.regularised_rounds, rounds)
    return Ratings(bs.models, rating, ci_low, ci_high, rank, worst, battles, bs.wins_per_model() / battles,
                   pc, fit.regularised, notes)


def _regularisation_notes(bs: BattleSet, regularised: bool, regularised_rounds: int, rounds: int) -> list[str]:
    notes: list[str] = []
    if regularised:
        wins, battles = bs.wins_per_model(), bs.battles_per_model()
        never_lost = [m for m, w, n in zip(bs.models, wins, battles) if w == n]
        never_won = [m for m, w in zip(bs.models, wins) if w == 0]
        reasons = []
        if never_lost:
            reasons.append(f"never lost: {', '.join(never_lost)}")
        if never_won:
            reasons.append(f"never won: {', '.join(never_won)}")
        if not reasons:
            reasons.append("some group of models never lost (or never won) against the others, "
                           "or the comparison graph is in pieces")
        notes.append(
            f"plain maximum likelihood has no finite solution ({'; '.join(reasons)}); "
            f"{PSEUDO_TIES_PER_PAIR:g} virtual tie was added to every pair of models "
            "(Haldane-Anscombe correction), so these ratings are shrunk towards each other "
            "and their intervals understate the uncertainty"
        )
    elif regularised_rounds:
        notes.append(
            f"{regularised_rounds} of {rounds} bootstrap resamples had no finite maximum likelihood "
            "and were fitted with one virtual tie per pair of models"
        )
    return notes


def build_payload(
    bs: BattleSet,
    *,
    source: str,
    judge_key: str | None = None,
    category: str | None = None,
    bootstrap_rounds: int = DEFAULT_BOOTSTRAP_ROUNDS,
    anchor: Anchor | None = None,
    seed: int = 0,
    diagnostics: dict | None = None,
    min_category_battles: int = MIN_CATEGORY_BATTLES,
    with_categories: bool = True,
    params: dict | None = None,
) -> dict[str, Any]:
    """The full report for these battles.

    Keys: method, version, params, n_battles, n_models, bootstrap_rounds, seed, anchor, source,
    judge_key, category, created_at, leaderboard (rows sorted by rating: model, rating, ci_low,
    ci_high, rank, rank_ci_low, rank_ci_high, battles, win_rate, online_elo, rating_lc, ci_low_lc,
    ci_high_lc), online_elo, win_rate_observed, win_prob_predicted, battle_counts,
    average_win_rate, categories, length_control, diagnostics, notes.
    """
    ratings = rate(bs, bootstrap_rounds, anchor, seed)
    online = online_elo(bs.a, bs.b, bs.score_a, bs.n_models)
    length_control, lc_columns, lc_notes = _length_control(bs, ratings, anchor)
    rows = leaderboard_rows(ratings)
    for row, k in zip(rows, [ratings.models.index(r["model"]) for r in rows]):
        row["online_elo"] = float(online[k])
        row.update(lc_columns.get(row["model"], {"rating_lc": None, "ci_low_lc": None, "ci_high_lc": None}))
    observed, predicted, counts, average = _matrices(ratings)
    categories = (
        _categories(bs, bootstrap_rounds, anchor, seed, min_category_battles) if with_categories else {}
    )
    return {
        "method": METHOD,
        "version": PAYLOAD_VERSION,
        "params": params or {},
        "n_battles": bs.n_battles,
        "n_models": bs.n_models,
        "bootstrap_rounds": bootstrap_rounds,
        "seed": seed,
        "anchor": {"model": anchor.model, "rating": anchor.rating} if anchor else None,
        "source": source,
        "judge_key": judge_key,
        "category": category,
        "created_at": utcnow().isoformat(),
        "leaderboard": rows,
        "online_elo": {
            "k": K_FACTOR,
            "note": f"online Elo (K={K_FACTOR:g}, in battle order, every model starting at 1000): "
                    "depends on the order of battles; the leaderboard's number is Bradley-Terry",
        },
        "win_rate_observed": observed,
        "win_prob_predicted": predicted,
        "battle_counts": counts,
        "average_win_rate": average,
        "categories": categories,
        "length_control": length_control,
        "diagnostics": diagnostics if diagnostics is not None else _empty_diagnostics(),
        "notes": ratings.notes + lc_notes,
    }


def leaderboard_rows(ratings: Ratings) -> list[dict[str, Any]]:
    order = np.argsort(-ratings.rating, kind="stable")
    return [
        {
            "model": ratings.models[k],
            "rating": float(ratings.rating[k]),
            "ci_low": float(ratings.ci_low[k]),
            "ci_high": float(ratings.ci_high[k]),
            "rank": int(ratings.rank[k]),
            "rank_ci_low": int(ratings.rank[k]),
            "rank_ci_high": int(ratings.rank_worst[k]),
            "battles": int(ratings.battles[k]),
            "win_rate": float(ratings.win_rate[k]),
        }
        for k in order
    ]


def _matrices(ratings: Ratings) -> tuple[dict, dict, dict, dict]:
    """Observed win rates (ties as half; None where a pair never met), predicted, counts, averages."""
    models, pc = ratings.models, ratings.counts
    m = len(models)
    wins = np.zeros((m, m))
    played = np.zeros((m, m))
    wins[pc.i, pc.j] = pc.counts[:, 0] + 0.5 * pc.counts[:, 1]
    wins[pc.j, pc.i] = pc.counts[:, 2] + 0.5 * pc.counts[:, 1]
    played[pc.i, pc.j] = played[pc.j, pc.i] = pc.counts.sum(axis=1)
    predicted = win_probability(ratings.rating[:, None], ratings.rating[None, :])
    observed_out, predicted_out, counts_out, average = {}, {}, {}, {}
    for x, model in enumerate(models):
        others = [y for y in range(m) if y != x]
        observed_out[model] = {
            models[y]: (float(wins[x, y] / played[x, y]) if played[x, y] else None) for y in others
        }
        predicted_out[model] = {models[y]: float(predicted[x, y]) for y in others}
        counts_out[model] = {models[y]: int(round(played[x, y])) for y in others}
        faced = [wins[x, y] / played[x, y] for y in others if played[x, y]]
        average[model] = {
            "observed": float(np.mean(faced)) if faced else None,
            "predicted": float(np.mean(predicted[x, others])),
        }
    return observed_out, predicted_out, counts_out, average


def _length_control(
    bs: BattleSet, ratings: Ratings, anchor: Anchor | None
) -> tuple[dict[str, Any], dict[str, dict], list[str]]:
    """The contextual fit on the battles with known answer lengths, its columns by model, notes."""
    known = ~(np.isnan(bs.len_a) | np.isnan(bs.len_b))
    unavailable = {"coefficient": None, "coefficient_ci": None, "coefficient_elo": None,
                   "n_battles": int(known.sum())}
    if not known.any():
        return {**unavailable, "note": "no answer lengths in these battles: length control not available"}, {}, []
    sub = bs.subset(known) if not known.all() else bs
    if sub.n_models < 2:
        return {**unavailable, "note": "too few battles with answer lengths for length control"}, {}, []
    diff = normalised_length_difference(sub.len_a, sub.len_b)
    fit = fit_length_controlled(sub.a, sub.b, sub.score_a, diff, sub.n_models, regularise=ratings.regularised)
    if fit is None:
        return {**unavailable, "note": "all answers have equal length: nothing to control for"}, {}, []
    anchor_index = sub.models.index(anchor.model) if anchor and anchor.model in sub.models else None
    rating = to_elo(fit.theta, anchor_index, anchor.rating if anchor_index is not None else 0.0)
    se, beta_se = elo_intervals(fit, anchor_index)
    columns = {
        model: {"rating_lc": float(r), "ci_low_lc": float(r - Z_95 * s), "ci_high_lc": float(r + Z_95 * s)}
        for model, r, s in zip(sub.models, rating, se)
    }
    notes = []
    if fit.regularised:
        notes.append(
            "length control: the maximum likelihood diverges on these battles (a model never lost, or length "
            "alone separates wins from losses), so one virtual tie per pair of models was added, half at "
            "each sign of the length difference"
        )
    if sub is not bs:
        notes.append(f"length control uses the {sub.n_battles} of {bs.n_battles} battles with answer lengths")
    direction = "longer" if fit.beta > 0 else "shorter"
    summary = {
        "coefficient": fit.beta,
        "coefficient_ci": [fit.beta - Z_95 * beta_se, fit.beta + Z_95 * beta_se],
        "coefficient_elo": fit.beta / ALPHA,
        "length_scale": fit.length_scale,
        "n_battles": fit.n_battles,
        "note": (
            "contextual Bradley-Terry with z = normalised length difference (len_a - len_b) / (len_a + len_b) "
            f"divided by its rms ({fit.length_scale:.3f}); coefficient = log-odds of winning per unit of z "
            f"({fit.beta / ALPHA:+.1f} Elo: {direction} answers are favoured at equal quality); rating_lc are "
            "the ratings at equal length, with 95% Wald intervals from the robust (sandwich) covariance"
        ),
    }
    return summary, columns, notes


def _categories(
    bs: BattleSet, rounds: int, anchor: Anchor | None, seed: int, min_battles: int
) -> dict[str, dict[str, Any]]:
    """The same fit per question category and per audience ("audience:patient")."""
    groups: list[tuple[str, np.ndarray]] = []
    for name in sorted({c for c in bs.category if c is not None}):
        groups.append((name, bs.category == name))
    for name in sorted({a for a in bs.audience if a is not None}):
        groups.append((AUDIENCE_PREFIX + name, bs.audience == name))
    out: dict[str, dict[str, Any]] = {}
    for name, mask in groups:
        mask = np.asarray(mask, dtype=bool)
        sub = bs.subset(mask)
        if sub.n_battles < min_battles or sub.n_models < 2:
            out[name] = {"status": "too_few_battles", "n_battles": sub.n_battles, "min_battles": min_battles,
                         "leaderboard": []}
            continue
        cat_anchor = anchor if anchor and anchor.model in sub.models else None
        ratings = rate(sub, rounds, cat_anchor, seed)
        notes = list(ratings.notes)
        if anchor and cat_anchor is None:
            notes.append(f"{anchor.model} has no battles here: mean rating 1000 instead of the anchor")
        out[name] = {"status": "ok", "n_battles": sub.n_battles, "leaderboard": leaderboard_rows(ratings),
                     "notes": notes}
    return out


def _empty_diagnostics() -> dict[str, Any]:
    return {"first_position_share": None, "order_disagreement": None, "length_win_correlation": None,
            "invalid_verdicts": 0, "judgments": 0}


# --- snapshots -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: dt.datetime
    battles_fingerprint: str
    source: str
    category: str | None
    judge: str | None
    judge_key: str | None
    rubric: str | None
    method: str
    payload: dict[str, Any]


def _same_kind(query, source: str, category: str | None, judge_key: str | None, method: str | None):  # type: ignore[no-untyped-def]
    query = query.where(snapshots.c.source == source)
    query = query.where(snapshots.c.category.is_(None) if category is None else snapshots.c.category == category)
    if judge_key is not None:
        query = query.where(snapshots.c.judge_key == judge_key)
    if method is not None:
        query = query.where(snapshots.c.method == method)
    return query


def latest_snapshot(
    store: Store, source: str = "judge", category: str | None = None, judge_key: str | None = None,
    method: str | None = None,
) -> Snapshot | None:
    """The newest snapshot of this source and category (and judge key, if given)."""
    query = _same_kind(select(snapshots), source, category, judge_key, method)
    query = query.order_by(snapshots.c.created_at.desc(), snapshots.c.id.desc()).limit(1)
    with store.connect() as connection:
        row = connection.execute(query).first()
    return Snapshot(**row._asdict()) if row else None


def snapshot_history(
    store: Store, source: str = "judge", category: str | None = None, judge_key: str | None = None
) -> list[Snapshot]:
    """Every snapshot of this source and category, oldest first."""
    query = _same_kind(select(snapshots), source, category, judge_key, None)
    query = query.order_by(snapshots.c.created_at, snapshots.c.id)
    with store.connect() as connection:
        return [Snapshot(**row._asdict()) for row in connection.execute(query)]


def reusable_snapshot(
    store: Store, *, source: str, category: str | None, judge_key: str | None, battles_fingerprint: str,
    params: dict[str, Any],
) -> Snapshot | None:
    """The latest snapshot of the same kind, if it was made from the same battles and parameters."""
    latest = latest_snapshot(store, source, category, judge_key, METHOD)
    if latest is None or latest.judge_key != judge_key:
        return None
    if latest.battles_fingerprint == battles_fingerprint and latest.payload.get("params") == params:
        return latest
    return None


def save_snapshot(
    store: Store, payload: dict[str, Any], *, battles_fingerprint: str, judge: str | None, rubric: str | None
) -> Snapshot:
    """Store `payload` as a new snapshot, unless the latest one of its kind is identical in input."""
    existing = reusable_snapshot(
        store, source=payload["source"], category=payload.get("category"), judge_key=payload.get("judge_key"),
        battles_fingerprint=battles_fingerprint, params=payload.get("params") or {},
    )
    if existing is not None:
        return existing
    values = {
        "created_at": utcnow(),
        "battles_fingerprint": battles_fingerprint,
        "source": payload["source"],
        "category": payload.get("category"),
        "judge": judge,
        "judge_key": payload.get("judge_key"),
        "rubric": rubric,
        "method": payload["method"],
        "payload": payload,
    }
    with store.transaction() as connection:
        new_id = connection.execute(snapshots.insert().values(**values)).inserted_primary_key[0]
    return Snapshot(id=int(new_id), **values)
