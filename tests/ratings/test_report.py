"""The typed report: boards, flags, views, style control, head to head, JSON, snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.config import load_config
from arena.errors import ArenaError
from arena.ratings.build import RatingOptions, build_report
from arena.ratings.compare import head_to_head, sign_test
from arena.ratings.rate import RateRequest, run_rate
from arena.ratings.report import (
    FLAG_FEW_BATTLES,
    FLAG_SEPARATE,
    FLAG_UNDEFEATED,
    NO_DIAGNOSTICS,
    Anchor,
    RatingParams,
    RatingReport,
    ReportVersionError,
)
from arena.ratings.snapshots import latest_snapshot, snapshot_history
from arena.store.battles import SAFETY_VIEW, BattleSelection
from tests.ratings.store_helpers import JudgedStore, fake_judge_stage, question_rows, write_project
from tests.ratings.synthetic import battle_set_of, draw_battles

NAMES = ["alpha", "beta", "gamma", "delta"]


def params(options: RatingOptions) -> RatingParams:
    return RatingParams(bootstrap=options.bootstrap, bootstrap_rounds=options.rounds, seed=options.seed,
                        anchor=options.anchor, style=options.style, min_category_battles=options.min_category_battles,
                        min_model_battles=options.min_model_battles, prior_sd_elo=1000.0, answer_set=None,
                        configured_models=None)


def report_of(bs, **kwargs) -> RatingReport:  # type: ignore[no-untyped-def]
    options = RatingOptions(**{"rounds": 100, **kwargs})
    return build_report(bs, options, params(options), selection=BattleSelection("test"), diagnostics=NO_DIAGNOSTICS)


def synthetic(n: int = 2000, seed: int = 0, **columns: object):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    a, b, score = draw_battles(np.array([-100.0, 0.0, 50.0, 150.0]), n, rng)
    return battle_set_of(NAMES, a, b, score, **columns)


def test_board_rows_are_best_first_with_intervals_and_a_json_round_trip() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    style = rng.integers(0, 600, (n, 4)).astype(float)
    bs = synthetic(n, style_a=style, style_b=rng.integers(0, 600, (n, 4)).astype(float),
                   question_id=[f"q{k % 200}" for k in range(n)],
                   category=["cardiology"] * 1990 + ["ent"] * 10,
                   question_info={f"q{k}": ("patient" if k % 2 else "clinician", k % 10 == 0) for k in range(200)})
    report = report_of(bs, min_category_battles=50)
    rows = report.board.rows
    assert [r.model for r in rows] == ["delta", "gamma", "beta", "alpha"]
    assert np.mean([r.rating for r in rows]) == pytest.approx(1000.0)
    assert all(r.ci_low <= r.rating <= r.ci_high for r in rows)
    assert sum(r.battles for r in rows) == 2 * n and report.board.n_questions == 200
    assert all(r.online_elo is not None and r.rating_sc is not None for r in rows)
    assert report.board.style.status == "ok" and len(report.board.style.coefficients) == 4
    pairwise = report.board.pairwise
    i, j = pairwise.index("alpha"), pairwise.index("beta")
    assert pairwise.battles[i, j] == pairwise.battles[j, i] > 0
    assert pairwise.observed()[i, j] + pairwise.observed()[j, i] == pytest.approx(1.0)
    assert pairwise.prob_above[i, j] + pairwise.prob_above[j, i] == pytest.approx(1.0)
    assert pairwise.questions[i, j] <= 200
    assert report.view_names == ["cardiology", "ent", "audience:clinician", "audience:patient", SAFETY_VIEW]
    assert report.view("ent").status == "too_few_battles" and report.view("ent").rows == ()
    assert report.view(SAFETY_VIEW).n_battles == 200 and report.view(SAFETY_VIEW).ok
    assert report.view("cardiology").style is None  # style control is fitted on the overall board
    text = json.dumps(report.to_json(), allow_nan=False)  # no NaN or inf anywhere
    again = RatingReport.from_json(json.loads(text))
    assert again.to_json() == report.to_json()
    assert again.params == report.params and again.board.rows == report.board.rows


def test_another_payload_version_is_refused() -> None:
    data = report_of(synthetic(300)).to_json()
    with pytest.raises(ReportVersionError, match="arena rate"):
        RatingReport.from_json({**data, "version": 1})


def test_anchor_pins_the_model_with_a_zero_width_interval() -> None:
    report = report_of(synthetic(), anchor=Anchor("beta", 1200.0))
    beta = report.board.row("beta")
    assert beta.rating == pytest.approx(1200.0) and beta.ci_low == pytest.approx(1200.0) == beta.ci_high
    with pytest.raises(ArenaError, match="omega"):
        report_of(synthetic(), anchor=Anchor("omega", 1000.0))
    with pytest.raises(ArenaError, match="MODEL=RATING"):
        Anchor.parse("beta")
    assert Anchor.parse("org/model-1=1114.5") == Anchor("org/model-1", 1114.5)


def test_flags_name_provisional_undefeated_and_incomparable_models() -> None:
    # champ beats b and c every time; d and e only ever met each other
    a = np.array([0] * 40 + [1] * 30 + [3] * 4)
    b = np.array([1] * 20 + [2] * 20 + [2] * 30 + [4] * 4)
    score = np.array([1.0] * 40 + [1.0, 0.0] * 15 + [1.0, 0.0, 0.5, 1.0])
    report = report_of(battle_set_of(["champ", "b", "c", "d", "e"], a, b, score), min_model_battles=10)
    board = report.board
    assert FLAG_UNDEFEATED in board.row("champ").flags
    assert board.row("d").flags == (FLAG_FEW_BATTLES, FLAG_SEPARATE) and board.row("d").group == 2
    assert board.row("b").group == 1 and FLAG_SEPARATE not in board.row("b").flags
    assert board.groups == (("b", "c", "champ"), ("d", "e"))
    assert any("2 parts" in note and "{d, e}" in note for note in board.notes)
    assert all(np.isfinite([r.rating, r.ci_low, r.ci_high]).all() for r in board.rows)


def test_one_model_or_no_battles_is_a_clear_error() -> None:
    bs = battle_set_of(["solo", "other"], np.array([0]), np.array([1]), np.array([1.0]))
    with pytest.raises(ArenaError, match="no battles"):
        report_of(bs.subset(np.array([False])))


def test_head_to_head_record_sign_test_and_probability() -> None:
    report = report_of(synthetic(3000, question_id=[f"q{k % 300}" for k in range(3000)]))
    duel = head_to_head(report.board, "delta", "alpha", "question", 100)
    pairwise = report.board.pairwise
    i, j = pairwise.index("delta"), pairwise.index("alpha")
    assert (duel.wins_a, duel.wins_b, duel.ties) == (pairwise.wins[i, j], pairwise.wins[j, i], pairwise.ties[i, j])
    assert duel.prob_a_above == 1.0 and duel.sign_test_p < 1e-6 and 0 < duel.questions <= 300
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) is None
    assert sign_test(9, 1) == pytest.approx(0.021484375)  # 2 * (1 + 10) / 1024
    assert "P(delta rated above alpha) = 1.000" in "\n".join(duel.lines())
    with pytest.raises(ArenaError, match="nobody"):
        head_to_head(report.board, "delta", "nobody", "question", 100)


def judged_project(tmp_path: Path, n_questions: int = 30) -> Path:
    """Three models, every pair judged on every question (mostly m3 > m2 > m1), one invalid judgment."""
    config = write_project(tmp_path, ["m1", "m2", "m3"], question_rows(n_questions, ("cardiology", "oncology")))
    store = JudgedStore(config)
    rng = np.random.default_rng(3)
    for k in range(1, n_questions + 1):
        for x, y in (("m1", "m2"), ("m1", "m3"), ("m2", "m3")):
            better_second = rng.random() < 0.75
            verdicts = [("B", "A"), ("A", "B"), ("A", "A")][0 if better_second else int(rng.integers(1, 3))]
            store.battle("key1", x, y, *verdicts, question_id=f"q{k}")
    store.battle("key1", "m1", "m2", None, "A", question_id="q1",
                 answer_a=store.answer("m1", "q1", fingerprint="old"))  # an invalid judgment: no battle
    store.close()
    return config


def test_judge_diagnostics_from_the_battles_two_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_judge_stage(monkeypatch, "key1")
    config = load_config(judged_project(tmp_path))
    result = run_rate(config, RateRequest(bootstrap_rounds=50, min_category_battles=10))
    report = result.snapshot.report
    board = report.board
    ties = sum(int(board.pairwise.ties[i, j]) for i in range(3) for j in range(i + 1, 3))
    assert report.diagnostics.order_disagreement == pytest.approx(ties / board.n_battles)
    # decisive battles name each position once; a tie here is always "AA": first position twice
    assert report.diagnostics.first_position_share == pytest.approx(0.5 + ties / (2 * board.n_battles))
    assert report.diagnostics.invalid_verdicts == 1 and report.diagnostics.judgments == 2 * 90 + 2
    assert result.snapshot.rubric == "medical@1.0" and result.snapshot.judge == "prometheus-test"
    assert report.view_names == ["cardiology", "oncology", "audience:clinician", "audience:patient"]
    assert report.view("audience:clinician").n_battles == 30


def test_snapshot_stored_once_and_reused_until_battles_or_parameters_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_judge_stage(monkeypatch, "key1")
    config = load_config(judged_project(tmp_path))
    first = run_rate(config, RateRequest(bootstrap_rounds=50))
    again = run_rate(config, RateRequest(bootstrap_rounds=50))
    assert not first.reused and again.reused and again.snapshot.id == first.snapshot.id
    assert run_rate(config, RateRequest(bootstrap_rounds=50, compare=("m1", "m2"))).reused  # --compare only prints
    for changed in (RateRequest(bootstrap_rounds=60), RateRequest(bootstrap_rounds=50, bootstrap="battle"),
                    RateRequest(bootstrap_rounds=50, style=("tokens",)), RateRequest(bootstrap_rounds=50)):
        assert not run_rate(config, changed).reused  # each differs from the latest snapshot
    store = JudgedStore(config.path)
    store.answer("m1", "q2", fingerprint="from-older-settings")  # an answer in no rated battle
    store.close()
    assert run_rate(config, RateRequest(bootstrap_rounds=50)).reused
    store = JudgedStore(config.path)
    store.battle("key2", "m3", "m1", "A", "B", question_id="q1")  # another judge: not rated
    store.close()
    assert run_rate(config, RateRequest(bootstrap_rounds=50)).reused
    opened = JudgedStore(config.path)
    history = snapshot_history(opened.store, "judge")
    latest = latest_snapshot(opened.store, "judge")
    opened.close()
    assert history[0].id == first.snapshot.id and len(history) == 5
    assert latest is not None and latest.id == history[-1].id and latest.judge_key == "key1"


def test_an_unchanged_store_is_reused_without_reading_a_battle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import arena.ratings.rate as rate_module
    from arena.store.schema import battles, questions

    fake_judge_stage(monkeypatch, "key1")
    config = load_config(judged_project(tmp_path))
    first = run_rate(config, RateRequest(bootstrap_rounds=30))
    real_load = rate_module.load_battles

    def must_not_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("battles were read")

    monkeypatch.setattr(rate_module, "load_battles", must_not_load)
    again = run_rate(config, RateRequest(bootstrap_rounds=30))
    assert again.reused and again.snapshot.id == first.snapshot.id
    monkeypatch.setattr(rate_module, "load_battles", real_load)
    store = JudgedStore(config.path)
    with store.store.transaction() as connection:  # a question becomes safety-critical: the views change
        connection.execute(questions.update().where(questions.c.id == "q3").values(safety_critical=True))
    store.close()
    flagged = run_rate(config, RateRequest(bootstrap_rounds=30))
    assert not flagged.reused and flagged.snapshot.report.view(SAFETY_VIEW).n_battles == 3
    store = JudgedStore(config.path)
    with store.store.transaction() as connection:  # the newest battle deleted and judged again, same id
        newest = connection.execute(battles.select().order_by(battles.c.id.desc()).limit(1)).mappings().one()
        connection.execute(battles.delete().where(battles.c.id == newest["id"]))
        connection.execute(battles.insert().values({**newest, "tstamp": newest["tstamp"] + 1.0}))
    store.close()
    assert not run_rate(config, RateRequest(bootstrap_rounds=30)).reused


def test_snapshots_of_the_earlier_method_are_kept_but_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.dashboard import data as dashboard_data
    from arena.ratings.snapshots import older_snapshots
    from arena.store.engine import utcnow
    from arena.store.schema import snapshots

    fake_judge_stage(monkeypatch, "key1")
    config = load_config(judged_project(tmp_path))
    store = JudgedStore(config.path)
    with store.store.transaction() as connection:  # what release 1 stored: another method and payload
        connection.execute(snapshots.insert().values(
            created_at=utcnow(), battles_fingerprint="old", source="judge", category=None, judge="j",
            judge_key="key1", rubric="r", method="bradley-terry", payload={"version": 1, "leaderboard": []}))
    assert latest_snapshot(store.store, "judge") is None and older_snapshots(store.store) == 1
    guide = dashboard_data.progress_guide(store.store, config.path)
    assert "earlier version of the rating method" in guide.message and guide.commands[0].startswith("arena rate")
    store.close()
    result = run_rate(config, RateRequest(bootstrap_rounds=20))
    assert not result.reused and result.snapshot.method == "bradley-terry/2"
