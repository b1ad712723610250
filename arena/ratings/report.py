"""The rating report as typed data: what `arena rate` prints and stores, the dashboard and nightly read.

A `RatingReport` holds the board of all rated battles and one board per view (question
category, audience "audience:patient", "safety-critical"), the parameters it was made with, the
battle selection it counted (so the dashboard shows exactly those battles) and the judge
diagnostics. `to_json`/`from_json` are its only serialisation: the CLI's JSON output, the stored
snapshot payload and the nightly exports all go through them.

JSON layout (version 2): the overall board's keys at the top level (`leaderboard`, `pairwise`,
`style_control`, `groups`, `n_battles`, ...), each view's board under `views[name]` with the same
keys; `cost` holds the cost ledger (`ratings/cost.py`) as it was when the report was printed
(`arena rate` attaches the live ledger to every report it shows); a jury's report also has
`judges` (each judge's board) and `agreement` (absent in payloads made before juries: read as
none). A payload of another version is refused by `from_json` (ReportVersionError); older
snapshots are simply made again by the next `arena rate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from arena.errors import ArenaError
from arena.ratings.cost import CostSection
from arena.store.battles import BattleSelection

METHOD = "bradley-terry/2"  # the snapshots table's method column: model and payload version
PAYLOAD_VERSION = 2
DEFAULT_BOOTSTRAP_ROUNDS = 1000
MIN_CATEGORY_BATTLES = 50  # a view with fewer battles gets no board
MIN_MODEL_BATTLES = 30  # a model with fewer battles in a board is flagged "few battles"

FLAG_FEW_BATTLES = "few battles"
FLAG_UNDEFEATED = "never lost"
FLAG_WINLESS = "never won"
FLAG_SEPARATE = "not comparable"  # outside the largest part of the comparison graph
FLAG_HELP = {
    FLAG_FEW_BATTLES: "fewer battles than the data threshold: a provisional rating",
    FLAG_UNDEFEATED: "no losses: the rating's upper side rests on the prior",
    FLAG_WINLESS: "no wins: the rating's lower side rests on the prior",
    FLAG_SEPARATE: "no chain of battles links it to the largest group: not comparable with those models",
}


class ReportVersionError(ArenaError):
    """A stored payload made by another version of the rating code."""


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
        if not sep or not model or not math.isfinite(value):
            raise ArenaError(f"--anchor {text!r}: expected MODEL=RATING, for example llama-3-8b=1000")
        return cls(model, value)


@dataclass(frozen=True)
class RatingParams:
    """Everything besides the battles that the numbers depend on: with the battles, the snapshot key."""

    bootstrap: str  # "question" (resample questions with all their battles) or "battle"
    bootstrap_rounds: int
    seed: int
    anchor: Anchor | None
    style: tuple[str, ...]  # style-control covariates asked for
    min_category_battles: int
    min_model_battles: int
    prior_sd_elo: float
    answer_set: str | None  # digest of the answers rated (judged battles), see BattleSelection
    configured_models: tuple[str, ...] | None
    version: int = PAYLOAD_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "bootstrap": self.bootstrap, "bootstrap_rounds": self.bootstrap_rounds,
            "seed": self.seed, "anchor": [self.anchor.model, self.anchor.rating] if self.anchor else None,
            "style": list(self.style), "min_category_battles": self.min_category_battles,
            "min_model_battles": self.min_model_battles, "prior_sd_elo": self.prior_sd_elo,
            "answer_set": self.answer_set,
            "configured_models": list(self.configured_models) if self.configured_models is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RatingParams:
        anchor = data.get("anchor")
        models = data.get("configured_models")
        return cls(
            bootstrap=data["bootstrap"], bootstrap_rounds=int(data["bootstrap_rounds"]), seed=int(data["seed"]),
            anchor=Anchor(anchor[0], float(anchor[1])) if anchor else None, style=tuple(data["style"]),
            min_category_battles=int(data["min_category_battles"]), min_model_battles=int(data["min_model_battles"]),
            prior_sd_elo=float(data["prior_sd_elo"]), answer_set=data.get("answer_set"),
            configured_models=tuple(models) if models is not None else None, version=int(data["version"]),
        )


@dataclass(frozen=True)
class ModelRow:
    """One model on one board."""

    model: str
    rating: float
    ci_low: float
    ci_high: float
    rank: int  # 1 + models whose interval lies entirely above this one's (LMArena's rank)
    rank_ci_low: int  # best rank the intervals allow (= rank)
    rank_ci_high: int  # worst rank the intervals allow
    battles: int
    win_rate: float  # share of its battles won, ties as half
    online_elo: float | None  # classic sequential Elo, overall board only
    rating_sc: float | None  # style-controlled: the rating at zero style difference
    ci_low_sc: float | None
    ci_high_sc: float | None
    flags: tuple[str, ...]  # FLAG_* names
    group: int  # which part of the comparison graph (1 = the largest)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "rating": self.rating, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "rank": self.rank, "rank_ci_low": self.rank_ci_low, "rank_ci_high": self.rank_ci_high,
                "battles": self.battles, "win_rate": self.win_rate, "online_elo": self.online_elo,
                "rating_sc": self.rating_sc, "ci_low_sc": self.ci_low_sc, "ci_high_sc": self.ci_high_sc,
                "flags": list(self.flags), "group": self.group}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelRow:
        return cls(**{**data, "flags": tuple(data["flags"])})


@dataclass(frozen=True, eq=False)
class Pairwise:
    """Row model against column model, over `models` (sorted by name)."""

    models: tuple[str, ...]
    wins: np.ndarray  # (M, M) int: battles the row model won against the column model
    ties: np.ndarray  # (M, M) int, symmetric
    questions: np.ndarray | None  # (M, M) int: questions on which the two met; None without question ids
    prob_above: np.ndarray | None  # (M, M): share of bootstrap rounds rating the row above the column

    @property
    def battles(self) -> np.ndarray:
        return self.wins + self.wins.T + self.ties

    def observed(self) -> np.ndarray:
        """The row model's win rate against the column model (ties as half); NaN where they never met."""
        played = self.battles.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (self.wins + 0.5 * self.ties) / played
        rate[played == 0] = np.nan
        return rate

    def index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise ArenaError(f"model {model!r} has no battles here (models: {', '.join(self.models)})") from None

    def to_json(self) -> dict[str, Any]:
        return {"models": list(self.models), "wins": self.wins.tolist(), "ties": self.ties.tolist(),
                "questions": None if self.questions is None else self.questions.tolist(),
                "prob_above": None if self.prob_above is None else _nan_to_none(np.round(self.prob_above, 4))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pairwise:
        return cls(
            models=tuple(data["models"]), wins=np.array(data["wins"], dtype=np.int64).reshape(len(data["models"]), -1),
            ties=np.array(data["ties"], dtype=np.int64).reshape(len(data["models"]), -1),
            questions=None if data.get("questions") is None else np.array(data["questions"], dtype=np.int64),
            prob_above=None if data.get("prob_above") is None else np.array(data["prob_above"], dtype=np.float64),
        )


@dataclass(frozen=True)
class StyleCoefficient:
    covariate: str
    coefficient: float  # log-odds of winning per standard deviation of the normalised difference
    ci_low: float
    ci_high: float
    elo: float  # the same in Elo points
    sd: float  # standard deviation (rms) of the normalised difference (s_a - s_b) / (s_a + s_b + 1)

    def to_json(self) -> dict[str, Any]:
        return {"covariate": self.covariate, "coefficient": self.coefficient, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "elo": self.elo, "sd": self.sd}


@dataclass(frozen=True)
class StyleControl:
    """The style-controlled fit's summary; its ratings are the rows' `rating_sc` columns."""

    covariates: tuple[str, ...]  # asked for
    status: str  # "ok", "off" (none asked for) or "unavailable"
    n_battles: int  # battles with every covariate known, the ones fitted
    clusters: int | None  # clusters of the sandwich covariance
    interval: str  # how the intervals were made
    coefficients: tuple[StyleCoefficient, ...]
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"covariates": list(self.covariates), "status": self.status, "n_battles": self.n_battles,
                "clusters": self.clusters, "interval": self.interval,
                "coefficients": [c.to_json() for c in self.coefficients], "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StyleControl:
        return cls(covariates=tuple(data["covariates"]), status=data["status"], n_battles=int(data["n_battles"]),
                   clusters=data.get("clusters"), interval=data["interval"],
                   coefficients=tuple(StyleCoefficient(**c) for c in data["coefficients"]), note=data["note"])


@dataclass(frozen=True)
class Board:
    """One leaderboard: all the report's battles (view None) or one view of them."""

    view: str | None
    status: str  # "ok" or "too_few_battles"
    n_battles: int
    n_questions: int  # distinct question ids among the battles
    min_battles: int
    rows: tuple[ModelRow, ...]  # best rating first
    pairwise: Pairwise | None
    style: StyleControl | None  # None: not fitted on this board (views)
    groups: tuple[tuple[str, ...], ...]  # parts of the comparison graph, when there is more than one
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.rows)

    @property
    def models(self) -> list[str]:
        return [row.model for row in self.rows]

    def row(self, model: str) -> ModelRow | None:
        return next((r for r in self.rows if r.model == model), None)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "n_battles": self.n_battles, "n_questions": self.n_questions,
                "n_models": len(self.rows), "min_battles": self.min_battles,
                "leaderboard": [r.to_json() for r in self.rows],
                "pairwise": None if self.pairwise is None else self.pairwise.to_json(),
                "style_control": None if self.style is None else self.style.to_json(),
                "groups": [list(g) for g in self.groups], "notes": list(self.notes)}

    @classmethod
    def from_json(cls, view: str | None, data: dict[str, Any]) -> Board:
        return cls(
            view=view, status=data["status"], n_battles=int(data["n_battles"]), n_questions=int(data["n_questions"]),
            min_battles=int(data["min_battles"]), rows=tuple(ModelRow.from_json(r) for r in data["leaderboard"]),
            pairwise=None if data.get("pairwise") is None else Pairwise.from_json(data["pairwise"]),
            style=None if data.get("style_control") is None else StyleControl.from_json(data["style_control"]),
            groups=tuple(tuple(g) for g in data["groups"]), notes=tuple(data["notes"]),
        )


@dataclass(frozen=True)
class JudgeDiagnostics:
    """How the judge behaved on the rated battles (judged battles only)."""

    first_position_share: float | None  # share of verdicts naming the answer shown first (no bias: 0.5)
    order_disagreement: float | None  # share of battles whose two orders named different models
    length_win_correlation: float | None  # of the normalised token difference with winning
    invalid_verdicts: int
    judgments: int

    def to_json(self) -> dict[str, Any]:
        return {"first_position_share": self.first_position_share, "order_disagreement": self.order_disagreement,
                "length_win_correlation": self.length_win_correlation, "invalid_verdicts": self.invalid_verdicts,
                "judgments": self.judgments}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeDiagnostics:
        return cls(**data)


NO_DIAGNOSTICS = JudgeDiagnostics(None, None, None, 0, 0)


@dataclass(frozen=True)
class JudgeBoard:
    """One judge of a jury: its own board of its own battles, and how it behaved."""

    judge: str
    judge_key: str
    board: Board  # status "too_few_battles" (no rows) when it has no battles of two models
    diagnostics: JudgeDiagnostics

    def to_json(self) -> dict[str, Any]:
        return {"judge": self.judge, "judge_key": self.judge_key, "board": self.board.to_json(),
                "diagnostics": self.diagnostics.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeBoard:
        return cls(judge=data["judge"], judge_key=data["judge_key"], board=Board.from_json(None, data["board"]),
                   diagnostics=JudgeDiagnostics.from_json(data["diagnostics"]))


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa of two judges on the battles both judged (None: undefined, see `Agreement`)."""

    judge_a: str
    judge_b: str
    n: int  # shared battles
    observed: float | None  # share of shared battles with the same outcome
    kappa: float | None

    def to_json(self) -> dict[str, Any]:
        return {"judge_a": self.judge_a, "judge_b": self.judge_b, "n": self.n, "observed": self.observed,
                "kappa": self.kappa}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairAgreement:
        return cls(**data)


@dataclass(frozen=True)
class Agreement:
    """How far a jury's judges agree on shared battles, each battle's outcome (first answer wins,
    tie, second wins) taken as a nominal label: Cohen's kappa per pair of judges, Krippendorff's
    alpha for the jury over the battles at least two judges judged (`n_alpha`). A statistic is
    None when it is undefined: no shared battles, or every judge gave one and the same outcome."""

    pairs: tuple[PairAgreement, ...]
    alpha: float | None
    n_alpha: int
    level: str  # Krippendorff's level of measurement: "nominal"
    jury_battles: int  # battles on the jury board (judged by more than half of the judges)
    rule: str  # how the jury board's verdicts were combined, in words

    def to_json(self) -> dict[str, Any]:
        return {"pairs": [p.to_json() for p in self.pairs], "alpha": self.alpha, "n_alpha": self.n_alpha,
                "level": self.level, "jury_battles": self.jury_battles, "rule": self.rule}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Agreement:
        return cls(pairs=tuple(PairAgreement.from_json(p) for p in data["pairs"]), alpha=data["alpha"],
                   n_alpha=int(data["n_alpha"]), level=data["level"], jury_battles=int(data["jury_battles"]),
                   rule=data["rule"])


@dataclass(frozen=True)
class RatingReport:
    method: str
    version: int
    source: str
    judge_key: str | None
    category: str | None  # the view the whole report is restricted to (`arena rate --category`)
    created_at: str  # ISO 8601, UTC
    selection: BattleSelection
    params: RatingParams
    board: Board
    views: tuple[Board, ...]
    online_elo_k: float
    diagnostics: JudgeDiagnostics
    notes: tuple[str, ...]
    inputs: str | None = None  # digest of what it read (data.stored_inputs_digest + current answers)
    cost: CostSection | None = None  # the cost ledger when shown (not part of what was rated)
    # A jury's report: `board` and `views` are the jury's (combined verdicts), these each judge's.
    judges: tuple[JudgeBoard, ...] = ()
    agreement: Agreement | None = None

    @property
    def is_jury(self) -> bool:
        return bool(self.judges)

    @property
    def n_battles(self) -> int:
        return self.board.n_battles

    def view(self, name: str | None) -> Board | None:
        """The board of all battles (None) or of one view; None when the report has no such view."""
        if name is None:
            return self.board
        return next((v for v in self.views if v.view == name), None)

    @property
    def view_names(self) -> list[str]:
        return [v.view for v in self.views if v.view is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "version": self.version, "source": self.source, "judge_key": self.judge_key,
            "category": self.category, "created_at": self.created_at, "selection": self.selection.to_json(),
            "params": self.params.to_json(), **self.board.to_json(),
            "views": {v.view: v.to_json() for v in self.views},
            "online_elo": {"k": self.online_elo_k,
                           "note": f"online Elo (K={self.online_elo_k:g}, in battle order, every model starting at "
                                   "1000): depends on the order of battles; the leaderboard's number is Bradley-Terry"},
            "diagnostics": self.diagnostics.to_json(), "report_notes": list(self.notes), "inputs": self.inputs,
            "cost": None if self.cost is None else self.cost.to_json(),
            "judges": [j.to_json() for j in self.judges],
            "agreement": None if self.agreement is None else self.agreement.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RatingReport:
        version = data.get("version")
        if version != PAYLOAD_VERSION:
            raise ReportVersionError(f"rating payload version {version}, this arena reads {PAYLOAD_VERSION}; "
                                     "run `arena rate` to rate again")
        return cls(
            method=data["method"], version=int(version), source=data["source"], judge_key=data.get("judge_key"),
            category=data.get("category"), created_at=data["created_at"],
            selection=BattleSelection.from_json(data["selection"]), params=RatingParams.from_json(data["params"]),
            board=Board.from_json(None, data), views=tuple(Board.from_json(name, v) for name, v in data["views"].items()),
            online_elo_k=float(data["online_elo"]["k"]), diagnostics=JudgeDiagnostics.from_json(data["diagnostics"]),
            notes=tuple(data["report_notes"]), inputs=data.get("inputs"),
            cost=None if data.get("cost") is None else CostSection.from_json(data["cost"]),
            judges=tuple(JudgeBoard.from_json(j) for j in data.get("judges") or ()),
            agreement=None if data.get("agreement") is None else Agreement.from_json(data["agreement"]),
        )


def _nan_to_none(array: np.ndarray) -> list[list[float | None]]:
    return [[None if not math.isfinite(v) else float(v) for v in row] for row in array.tolist()]
