"""The rating payload, per-category fits, judge diagnostics and snapshots (stored once, reused)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.config import load_config
from arena.errors import ArenaError
from arena.ratings.data import BattleSet, battles_fingerprint, load_battles
from arena.ratings.rate import RateRequest, run_rate
from arena.ratings.report import Anchor, build_payload, latest_snapshot, snapshot_history
from tests.ratings.store_helpers import (
    add_imported_battles,
    add_judged_battle,
    add_questions,
    fake_judge_stage,
    new_store,
    write_project,
)
from tests.ratings.synthetic import battle_frame, draw_battles

ROW_KEYS = {"model", "rating", "ci_low", "ci_high", "rank", "rank_ci_low", "rank_ci_high", "battles",
            "win_rate", "online_elo", "rating_lc", "ci_low_lc", "ci_high_lc"}
NAMES = ["alpha", "beta", "gamma", "delta"]


def synthetic_set(n: int = 2000, seed: int = 0, **columns: object) -> BattleSet:
    rng = np.random.default_rng(seed)
    a, b, score = draw_battles(np.array([-100.0, 0.0, 50.0, 150.0]), n, rng)
    return BattleSet.from_frame(battle_frame(NAMES, a, b, score, **columns))


def test_payload_has_the_contract_keys_and_finite_numbers() -> None:
    rng = np.random.default_rng(1)
    bs = synthetic_set(answer_a_len=rng.integers(100, 900, 2000), answer_b_len=rng.integers(100, 900, 2000),
                       category=["cardiology"] * 1990 + ["ent"] * 10)
    payload = build_payload(bs, source="import:x", bootstrap_rounds=200, min_category_battles=50)
    for key in ("method", "n_battles", "bootstrap_rounds", "anchor", "source", "judge_key", "leaderboard",
                "win_rate_observed", "win_prob_predicted", "battle_counts", "categories", "length_control",
                "diagnostics"):
        assert key in payload
    assert payload["method"] == "bradley-terry" and payload["n_battles"] == 2000
    rows = payload["leaderboard"]
    assert [r["model"] for r in rows] == ["delta", "gamma", "beta", "alpha"]
    assert all(set(r) >= ROW_KEYS for r in rows)
    assert [r["rating"] for r in rows] == sorted((r["rating"] for r in rows), reverse=True)
    assert np.mean([r["rating"] for r in rows]) == pytest.approx(1000.0)
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in rows)
    assert sum(r["battles"] for r in rows) == 4000
    assert payload["battle_counts"]["alpha"]["beta"] == payload["battle_counts"]["beta"]["alpha"] > 0
    observed = payload["win_rate_observed"]
    assert observed["alpha"]["beta"] + observed["beta"]["alpha"] == pytest.approx(1.0)
    predicted = payload["win_prob_predicted"]
    assert predicted["delta"]["alpha"] + predicted["alpha"]["delta"] == pytest.approx(1.0)
    assert payload["length_control"]["coefficient"] is not None
    assert payload["categories"]["cardiology"]["status"] == "ok"
    assert payload["categories"]["ent"] == {"status": "too_few_battles", "n_battles": 10, "min_battles": 50,
                                             "leaderboard": []}
    json.dumps(payload, allow_nan=False)  # no NaN or inf anywhere


def test_anchor_pins_the_model_with_a_zero_width_interval() -> None:
    payload = build_payload(synthetic_set(), source="s", bootstrap_rounds=100, anchor=Anchor("beta", 1200.0))
    beta = next(r for r in payload["leaderboard"] if r["model"] == "beta")
    assert beta["rating"] == pytest.approx(1200.0)
    assert beta["ci_low"] == pytest.approx(1200.0) and beta["ci_high"] == pytest.approx(1200.0)
    assert payload["anchor"] == {"model": "beta", "rating": 1200.0}
    with pytest.raises(ArenaError, match="omega"):
        build_payload(synthetic_set(), source="s", bootstrap_rounds=10, anchor=Anchor("omega", 1000.0))
    with pytest.raises(ArenaError, match="MODEL=RATING"):
        Anchor.parse("beta")
    assert Anchor.parse("org/model-1=1114.5") == Anchor("org/model-1", 1114.5)


def test_never_lost_model_gets_a_note_not_a_nan() -> None:
    frame = battle_frame(["champ", "b", "c"], np.array([0, 0, 1, 2, 1]), np.array([1, 2, 2, 1, 0]),
                         np.array([1.0, 1.0, 1.0, 1.0, 0.0]))
    payload = build_payload(BattleSet.from_frame(frame), source="s", bootstrap_rounds=50)
    json.dumps(payload, allow_nan=False)
    assert any("never lost: champ" in note and "virtual tie" in note for note in payload["notes"])
    assert payload["leaderboard"][0]["model"] == "champ"


def test_one_model_or_no_battles_is_a_clear_error() -> None:
    frame = battle_frame(["solo", "other"], np.array([0]), np.array([1]), np.array([1.0]))
    solo = BattleSet.from_frame(frame).subset(np.array([False]))
    with pytest.raises(ArenaError, match="no battles"):
        build_payload(solo, source="s", bootstrap_rounds=10)


def test_category_of_one_model_is_too_few() -> None:
    bs = synthetic_set(200, category=["x"] * 200)
    payload = build_payload(bs, source="s", bootstrap_rounds=20, min_category_battles=500)
    assert payload["categories"]["x"]["status"] == "too_few_battles"


def store_with_judged_battles(tmp_path: Path, judge_key: str = "key1") -> None:
    store = new_store(tmp_path)
    add_questions(store, [("q1", "cardiology", "patient"), ("q2", "oncology", "clinician")])
    rng = np.random.default_rng(3)
    models = ["m1", "m2", "m3"]
    for k in range(60):
        x, y = rng.choice(3, 2, replace=False)
        verdicts = [("A", "B"), ("B", "A"), ("A", "A"), ("B", "B")][k % 4]
        if k % 3 == 0:  # the better-numbered model wins in both orders
            verdicts = ("A", "B") if x > y else ("B", "A")
        add_judged_battle(store, judge_key, models[x], models[y], *verdicts, question_id=f"q{1 + k % 2}",
                          category="cardiology" if k % 2 == 0 else "oncology", tstamp=float(k))
    add_judged_battle(store, judge_key, "m1", "m2", None, "A", tstamp=100.0)  # invalid: no battle
    store.close()


def test_judge_diagnostics_from_both_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_with_judged_battles(tmp_path)
    fake_judge_stage(monkeypatch, "key1")
    config = load_config(write_project(tmp_path, ["m1", "m2", "m3"]))
    result = run_rate(config, RateRequest(bootstrap_rounds=50, min_category_battles=10))
    payload = result.snapshot.payload
    diagnostics = payload["diagnostics"]
    store = new_store(tmp_path)
    frame = load_battles(store, "judge", "key1")
    store.close()
    ties = (frame["winner"] == "tie").mean()
    assert diagnostics["order_disagreement"] == pytest.approx(ties)
    assert 0.0 < diagnostics["first_position_share"] < 1.0
    assert diagnostics["invalid_verdicts"] == 1 and diagnostics["judgments"] == 122
    assert result.snapshot.rubric == "medical@1.0" and result.snapshot.judge == "prometheus-test"
    assert set(payload["categories"]) == {"cardiology", "oncology", "audience:patient", "audience:clinician"}
    assert payload["categories"]["audience:patient"]["n_battles"] == 30


def test_snapshot_stored_once_and_reused_until_battles_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_with_judged_battles(tmp_path)
    fake_judge_stage(monkeypatch, "key1")
    config = load_config(write_project(tmp_path, ["m1", "m2", "m3"]))
    first = run_rate(config, RateRequest(bootstrap_rounds=50))
    again = run_rate(config, RateRequest(bootstrap_rounds=50))
    assert not first.reused and again.reused and again.snapshot.id == first.snapshot.id
    other_params = run_rate(config, RateRequest(bootstrap_rounds=60))
    assert not other_params.reused
    store = new_store(tmp_path)
    add_judged_battle(store, "key1", "m3", "m1", "A", "B", tstamp=200.0)
    add_judged_battle(store, "key2", "m3", "m1", "A", "B", tstamp=201.0)  # another judge: not rated
    store.close()
    changed = run_rate(config, RateRequest(bootstrap_rounds=60))
    assert not changed.reused and changed.snapshot.payload["n_battles"] == first.snapshot.payload["n_battles"] + 1
    store = new_store(tmp_path)
    history = snapshot_history(store, "judge")
    latest = latest_snapshot(store, "judge")
    store.close()
    assert [s.id for s in history] == [first.snapshot.id, other_params.snapshot.id, changed.snapshot.id]
    assert latest is not None and latest.id == changed.snapshot.id and latest.judge_key == "key1"


def test_rating_a_source_with_no_battles_names_the_sources(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_imported_battles(store, "import:crowd", [{"model_a": "a", "model_b": "b", "winner": "tie"}])
    store.close()
    config = load_config(write_project(tmp_path, ["a"]))
    with pytest.raises(ArenaError, match="import:crowd"):
        run_rate(config, RateRequest(source="import:other", bootstrap_rounds=5))
    with pytest.raises(ArenaError, match="only one model|at least two"):
        store = new_store(tmp_path)
        add_imported_battles(store, "import:solo", [{"model_a": "a", "model_b": "a", "winner": "tie"}])
        store.close()
        run_rate(config, RateRequest(source="import:solo", bootstrap_rounds=5))


def test_fingerprint_changes_with_content_and_order() -> None:
    frame = battle_frame(NAMES, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 0.5]))
    assert battles_fingerprint(frame) == battles_fingerprint(frame.copy())
    changed = frame.copy()
    changed.loc[0, "winner"] = "model_b"
    assert battles_fingerprint(changed) != battles_fingerprint(frame)
    assert battles_fingerprint(frame.iloc[::-1]) != battles_fingerprint(frame)
