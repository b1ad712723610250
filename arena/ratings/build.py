"""Rating battles into a `RatingReport`: one board for all the battles and one for each view.

A board is the Bradley-Terry fit (with the weak prior of `bt`), its bootstrap (by question by
default, `resample`), LMArena's rank with uncertainty, per-model flags (few battles, no losses,
no wins, outside the largest part of the comparison graph), the pairwise tables (wins, ties,
questions met on, P(row rated above column) in the bootstrap) and, on the overall board, online
Elo and the style-controlled fit (`style`).

Views are the question categories, the audiences ("audience:patient") and the safety-critical
questions ("safety-critical"). A view with fewer than `min_category_battles` battles has no
board. Each view's bootstrap has its own seed, derived from the run's seed and the view's name,
so the boards come out the same whichever thread fits them.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from arena.answers import STYLE_NAMES
from arena.errors import ArenaError
from arena.ratings.bt import (
    ALPHA,
    PairCounts,
    comparison_groups,
    fit_bt,
    pair_cells,
    ranks_with_ci,
    refit_rounds,
    to_elo,
)
from arena.ratings.data import BattleSet, view_mask, view_names
from arena.ratings.elo import K_FACTOR, online_elo
from arena.ratings.report import (
    DEFAULT_BOOTSTRAP_ROUNDS,
    FLAG_FEW_BATTLES,
    FLAG_SEPARATE,
    FLAG_UNDEFEATED,
    FLAG_WINLESS,
    METHOD,
    MIN_CATEGORY_BATTLES,
    MIN_MODEL_BATTLES,
    PAYLOAD_VERSION,
    Anchor,
    Board,
    JudgeDiagnostics,
    ModelRow,
    Pairwise,
    RatingParams,
    RatingReport,
    StyleCoefficient,
    StyleControl,
)
from arena.ratings.resample import BootstrapKind, resampled_rounds, resampler
from arena.ratings.style import (
    COVARIATE_LABELS,
    COVARIATES,
    Z_95,
    elo_standard_errors,
    fit_style,
    normalised_difference,
)
from arena.store.battles import BattleSelection
from arena.store.engine import utcnow


@dataclass(frozen=True)
class RatingOptions:
    bootstrap: BootstrapKind = "question"
    rounds: int = DEFAULT_BOOTSTRAP_ROUNDS
    seed: int = 0
    anchor: Anchor | None = None
    style: tuple[str, ...] = COVARIATES
    min_category_battles: int = MIN_CATEGORY_BATTLES
    min_model_battles: int = MIN_MODEL_BATTLES


def build_report(
    bs: BattleSet, options: RatingOptions, params: RatingParams, *, selection: BattleSelection,
    diagnostics: JudgeDiagnostics, notes: tuple[str, ...] = (), with_views: bool = True, inputs: str | None = None,
    online: np.ndarray | None = None,
) -> RatingReport:
    """The report of these battles: the overall board, every view's board, and the run's facts
    (`online`: these battles' online Elo, when the caller has computed it already)."""
    if bs.n_battles == 0:
        raise ArenaError("no battles to rate")
    if bs.n_models < 2:
        raise ArenaError(f"only one model ({bs.models[0]}) in these battles; ratings need at least two")
    if options.anchor is not None and options.anchor.model not in bs.models:
        raise ArenaError(f"--anchor: model {options.anchor.model!r} has no battles here "
                         f"(models: {', '.join(bs.models)})")
    # Online Elo is a pure Python loop: run alone, it does not hold up the threads' array work.
    if online is None:
        online = online_elo(bs.a, bs.b, bs.score_a, bs.n_models)
    # Two threads: the boards' array work releases Python's lock, so views fit beside the overall board.
    # Each thread's matrix products run on one BLAS thread: two threads that each start BLAS's own
    # threads oversubscribe the cores, and OpenBLAS's spinning threads then cost more than they do.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=2) as pool:
        overall = pool.submit(rate_board, bs, options, None, np.random.default_rng(options.seed), True, online)
        views = tuple(pool.map(lambda name: _view_board(bs, options, name), view_names(bs) if with_views else []))
        board = overall.result()
    return RatingReport(
        method=METHOD, version=PAYLOAD_VERSION, source=selection.source, judge_key=selection.judge_key,
        category=selection.view, created_at=utcnow().isoformat(), selection=selection, params=params,
        board=board, views=views, online_elo_k=K_FACTOR, diagnostics=diagnostics, notes=notes, inputs=inputs,
    )


def judge_board(bs: BattleSet, options: RatingOptions) -> Board:
    """One judge's board in a jury's report: all its battles, without style control or online Elo."""
    if bs.n_battles == 0 or bs.n_models < 2:
        return Board(view=None, status="too_few_battles", n_battles=bs.n_battles, n_questions=bs.n_questions(),
                     min_battles=1, rows=(), pairwise=None, style=None, groups=(), notes=())
    return rate_board(bs, options, None, np.random.default_rng(options.seed), overall=False)


def _view_board(bs: BattleSet, options: RatingOptions, name: str) -> Board:
    sub = bs.subset(view_mask(bs, name), details=False)  # views get no style control or online Elo
    if sub.n_battles < options.min_category_battles or sub.n_models < 2:
        return Board(view=name, status="too_few_battles", n_battles=sub.n_battles, n_questions=sub.n_questions(),
                     min_battles=options.min_category_battles, rows=(), pairwise=None, style=None, groups=(),
                     notes=())
    rng = np.random.default_rng([options.seed, zlib.crc32(name.encode())])
    return rate_board(sub, options, name, rng, overall=False)


def rate_board(bs: BattleSet, options: RatingOptions, view: str | None, rng: np.random.Generator,
               overall: bool, online: np.ndarray | None = None) -> Board:
    """Fit, bootstrap, rank and flag the battles of one board; the overall board also gets style
    control and the online Elo ratings given."""
    pc, cell = pair_cells(bs.a, bs.b, bs.score_a, bs.n_models)
    theta = fit_bt(pc)
    thetas = bootstrap_thetas(pc, cell, bs.cluster, theta, options.bootstrap, options.rounds, rng)
    anchor, notes = _anchor_for(bs, options.anchor, view)
    anchor_index = bs.models.index(anchor.model) if anchor else None
    anchor_rating = anchor.rating if anchor else 0.0
    rating = to_elo(theta, anchor_index, anchor_rating)
    if len(thetas):
        boot = to_elo(thetas, anchor_index, anchor_rating)
        ci_low, ci_high = np.percentile(boot, [2.5, 97.5], axis=0)
    else:
        ci_low, ci_high = rating.copy(), rating.copy()
    rank, worst = ranks_with_ci(ci_low, ci_high)
    battles = bs.battles_per_model()
    wins = bs.wins_per_model()
    groups = comparison_groups(pc)
    group_of = np.empty(bs.n_models, dtype=np.int64)
    for number, members in enumerate(groups, start=1):
        group_of[members] = number
    flags = _flags(battles, wins, group_of, options.min_model_battles)
    style, style_columns, style_notes = (
        style_control(bs, theta, options, anchor) if overall else (None, {}, []))
    rows = []
    for k in np.argsort(-rating, kind="stable"):
        sc = style_columns.get(bs.models[k], (None, None, None))
        rows.append(ModelRow(
            model=bs.models[k], rating=float(rating[k]), ci_low=float(ci_low[k]), ci_high=float(ci_high[k]),
            rank=int(rank[k]), rank_ci_low=int(rank[k]), rank_ci_high=int(worst[k]), battles=int(battles[k]),
            win_rate=float(wins[k] / battles[k]), online_elo=None if online is None else float(online[k]),
            rating_sc=sc[0], ci_low_sc=sc[1], ci_high_sc=sc[2], flags=flags[k], group=int(group_of[k]),
        ))
    named_groups = tuple(tuple(bs.models[k] for k in g) for g in groups) if len(groups) > 1 else ()
    return Board(
        view=view, status="ok", n_battles=bs.n_battles, n_questions=bs.n_questions(),
        min_battles=options.min_category_battles if view is not None else 1, rows=tuple(rows),
        pairwise=_pairwise(bs, pc, cell, thetas), style=style, groups=named_groups,
        notes=tuple(notes + _board_notes(bs, flags, named_groups, options.min_model_battles) + style_notes),
    )


def bootstrap_thetas(pc: PairCounts, cell: np.ndarray, cluster: np.ndarray, theta: np.ndarray,
                     kind: BootstrapKind, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """The posterior mode in each bootstrap round, (rounds, M)."""
    if rounds <= 0:
        return np.empty((0, pc.n_models))
    design = resampler(cell, cluster, len(pc.i), kind)
    return np.concatenate([refit_rounds(pc, theta, wins, totals)
                           for wins, totals in resampled_rounds(design, rounds, rng)])


def _anchor_for(bs: BattleSet, anchor: Anchor | None, view: str | None) -> tuple[Anchor | None, list[str]]:
    if anchor is None or anchor.model in bs.models:
        return anchor, []
    return None, [f"{anchor.model} has no battles in {view}: mean rating 1000 instead of the anchor"]


def _flags(battles: np.ndarray, wins: np.ndarray, group_of: np.ndarray, min_battles: int) -> list[tuple[str, ...]]:
    out = []
    for n, w, g in zip(battles, wins, group_of, strict=False):
        flags = []
        if n < min_battles:
            flags.append(FLAG_FEW_BATTLES)
        if w == n:
            flags.append(FLAG_UNDEFEATED)
        if w == 0:
            flags.append(FLAG_WINLESS)
        if g > 1:
            flags.append(FLAG_SEPARATE)
        out.append(tuple(flags))
    return out


def _board_notes(bs: BattleSet, flags: list[tuple[str, ...]], groups: tuple[tuple[str, ...], ...],
                 min_battles: int) -> list[str]:
    notes = []
    few = [m for m, f in zip(bs.models, flags, strict=False) if FLAG_FEW_BATTLES in f]
    if few:
        notes.append(f"fewer than {min_battles} battles, provisional: {', '.join(few)}")
    if groups:
        parts = "; ".join("{" + ", ".join(g) + "}" for g in groups)
        notes.append(f"the comparison graph is in {len(groups)} parts that share no battles: {parts}; "
                     "ratings in different parts are not comparable (only the prior relates them)")
    undefeated = [m for m, f in zip(bs.models, flags, strict=False) if FLAG_UNDEFEATED in f]
    winless = [m for m, f in zip(bs.models, flags, strict=False) if FLAG_WINLESS in f]
    if undefeated or winless:
        named = "; ".join(part for part in (f"never lost: {', '.join(undefeated)}" if undefeated else "",
                                            f"never won: {', '.join(winless)}" if winless else "") if part)
        notes.append(f"{named}: these ratings are bounded only by the weak prior, and their intervals by the data")
    return notes


def _pairwise(bs: BattleSet, pc: PairCounts, cell: np.ndarray, thetas: np.ndarray) -> Pairwise:
    m = bs.n_models
    wins = np.zeros((m, m), dtype=np.int64)
    ties = np.zeros((m, m), dtype=np.int64)
    counts = pc.counts.astype(np.int64)
    wins[pc.i, pc.j], wins[pc.j, pc.i] = counts[:, 0], counts[:, 2]
    ties[pc.i, pc.j] = ties[pc.j, pc.i] = counts[:, 1]
    questions = None
    known = bs.cluster >= 0
    if known.any():
        pair = cell[known] // 3
        p = len(pc.i)
        if len(bs.questions) * p <= 50_000_000:  # (question, pair) met or not, as a table
            met_table = np.bincount(bs.cluster[known] * p + pair, minlength=len(bs.questions) * p) > 0
            per_pair = met_table.reshape(len(bs.questions), p).sum(axis=0)
        else:
            per_pair = np.bincount(np.unique(bs.cluster[known] * p + pair) % p, minlength=p)
        questions = np.zeros((m, m), dtype=np.int64)
        questions[pc.i, pc.j] = questions[pc.j, pc.i] = per_pair
    above = None
    if len(thetas):
        above = ((thetas[:, :, None] > thetas[:, None, :]).mean(axis=0)
                 + 0.5 * (thetas[:, :, None] == thetas[:, None, :]).mean(axis=0))
        np.fill_diagonal(above, np.nan)
    return Pairwise(tuple(bs.models), wins, ties, questions, above)


def style_control(bs: BattleSet, theta: np.ndarray, options: RatingOptions, anchor: Anchor | None
                  ) -> tuple[StyleControl, dict[str, tuple[float, float, float]], list[str]]:
    """The style-controlled fit on the battles whose chosen covariates are known for both answers."""
    names = options.style
    interval = ("95% Wald intervals from the sandwich covariance clustered by question"
                if options.bootstrap == "question" else "95% Wald intervals from the sandwich covariance (by battle)")

    def unavailable(status: str, n: int, note: str) -> tuple[StyleControl, dict, list[str]]:
        return StyleControl(names, status, n, None, interval, (), note), {}, []

    if not names:
        return unavailable("off", 0, "style control off (--style none)")
    columns = [STYLE_NAMES.index(name) for name in names]
    known = ~(np.isnan(bs.style_a[:, columns]).any(axis=1) | np.isnan(bs.style_b[:, columns]).any(axis=1))
    if not known.any():
        return unavailable("unavailable", 0, "no battle records these answers' style: style control not available")
    sub = bs.subset(known) if not known.all() else bs
    if sub.n_models < 2:
        return unavailable("unavailable", sub.n_battles, "too few battles with known style for style control")
    diffs = normalised_difference(sub.style_a[:, columns], sub.style_b[:, columns])
    start = theta[[bs.models.index(m) for m in sub.models]]
    cluster = sub.cluster if options.bootstrap == "question" else np.full(sub.n_battles, -1)
    fit = fit_style(sub.a, sub.b, sub.score_a, diffs, names, sub.n_models, cluster, start=start)
    if fit is None:
        return unavailable("unavailable", sub.n_battles, "no style difference between any two answers: "
                           "nothing to control for")
    anchor_index = sub.models.index(anchor.model) if anchor and anchor.model in sub.models else None
    rating = to_elo(fit.theta, anchor_index, anchor.rating if anchor and anchor_index is not None else 0.0)
    se, beta_se = elo_standard_errors(fit, anchor_index)
    columns_by_model = {m: (float(r), float(r - Z_95 * s), float(r + Z_95 * s)) for m, r, s in zip(sub.models, rating, se, strict=False)}
    coefficients = tuple(
        StyleCoefficient(covariate=name, coefficient=float(beta), ci_low=float(beta - Z_95 * s),
                         ci_high=float(beta + Z_95 * s), elo=float(beta / ALPHA), sd=float(sd))
        for name, beta, s, sd in zip(fit.covariates, fit.beta, beta_se, fit.scales, strict=False)
    )
    notes = []
    if sub is not bs:
        notes.append(f"style control uses the {sub.n_battles} of {bs.n_battles} battles whose answers' "
                     f"{', '.join(names)} are known")
    constant = [name for name in names if name not in fit.covariates]
    if constant:
        notes.append(f"style control: no variation in {', '.join(constant)}, left out")
    described = ", ".join(COVARIATE_LABELS[name] for name in fit.covariates)
    note = (f"contextual Bradley-Terry with {described} as covariates, each the normalised difference "
            "(a - b) / (a + b + 1) divided by its standard deviation; a coefficient is the log-odds (and Elo) "
            "one standard deviation of that difference buys at equal quality; the style-controlled ratings are "
            f"the ratings at zero style difference, with {interval}")
    return (StyleControl(names, "ok", fit.n_battles, fit.n_clusters, interval, coefficients, note),
            columns_by_model, notes)
