"""The dashboard's data layer on a hand-built store whose every battle is known."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from arena.battles_io import EXPORT_FIELDS, import_battles
from arena.config import load_config
from arena.dashboard import data
from arena.errors import StoreError
from arena.store.engine import open_store
from arena.store.schema import battles, questions
from tests.dashboard.synthetic import (
    JUDGE_KEY,
    REFERENCE,
    Synthetic,
    make_store,
    minimal_project,
    rate_store,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def synthetic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.url(cluster.new_database())
    return make_store(tmp_path_factory.mktemp("synthetic"), url=url)


@pytest.fixture(scope="module")
def store(synthetic: Synthetic):
    opened = data.open_read_only(synthetic.url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def snapshot(store):
    found = data.newest_snapshot(store, "judge")
    assert found is not None
    return found


def all_battles(store) -> pd.DataFrame:
    with store.connect() as connection:
        return pd.DataFrame(connection.execute(select(battles)).mappings().all())


# --- opening ------------------------------------------------------------------------------------


def test_missing_project_file_gives_a_guide_with_the_commands(tmp_path: Path) -> None:
    guide = data.open_project(tmp_path / "nope.yaml")
    assert isinstance(guide, data.Guide)
    assert "project file not found" in guide.message
    assert any(c.startswith("arena generate -c ") for c in guide.commands)


def test_missing_store_gives_a_guide(tmp_path: Path) -> None:
    config = minimal_project(tmp_path)
    guide = data.open_project(config)
    assert isinstance(guide, data.Guide)
    assert "no store" in guide.message
    assert [c.split(" -c ")[0] for c in guide.commands] == list(data.PIPELINE_COMMANDS)
    assert not (tmp_path / "arena.db").exists()  # looking did not create it


def test_store_without_snapshots_says_what_to_run_next(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'arena.db'}")
    with store.transaction() as connection:
        connection.execute(questions.insert().values(id="q1", text="t", category="c"))
    guide = data.progress_guide(store, tmp_path / "arena.yaml")
    assert "0 answers, 0 judgments and 0 battles" in guide.message
    assert guide.commands[0].startswith("arena generate")
    assert data.snapshot_sources(store) == []


def test_read_only_store_refuses_writes(store) -> None:
    with pytest.raises(StoreError, match="readonly|read-only"), store.transaction() as connection:
        connection.execute(questions.insert().values(id="new", text="t", category="c"))


def test_open_project_reads_config_and_store(synthetic: Synthetic) -> None:
    project = data.open_project(synthetic.config_path)
    assert isinstance(project, data.Project)
    assert [m.name for m in project.config.models] == ["alpha", "beta", "gamma"]
    project.store.close()


# --- snapshot views ---------------------------------------------------------------------------


def test_category_views(snapshot) -> None:
    whole = data.category_view(snapshot, None)
    assert whole.ok and whole.n_battles == 60
    assert whole.models == ["alpha", "beta", "gamma"]
    assert data.category_view(snapshot, data.ALL_CATEGORIES) == whole
    cardiology = data.category_view(snapshot, "cardiology")
    assert cardiology.ok and cardiology.rows == snapshot.report.view("cardiology").rows
    sparse = data.category_view(snapshot, "dermatology")
    assert sparse.status == "too_few_battles" and not sparse.ok and sparse.n_battles == 3
    assert data.category_view(snapshot, "oncology").status == "missing"
    names = data.snapshot_categories(snapshot)
    assert names[:3] == ["cardiology", "dermatology", "nutrition"]
    assert names[3:] == ["audience:clinician", "audience:patient", "safety-critical"]
    safety = data.category_view(snapshot, "safety-critical")
    assert safety.ok and safety.n_battles == 15  # questions 0, 4, 8, 12, 16: three battles each


def test_leaderboard_frame_is_the_payload_plus_config_metadata(synthetic: Synthetic, snapshot) -> None:
    config = load_config(synthetic.config_path)
    frame = data.leaderboard_frame(data.category_view(snapshot, None), config)
    rows = snapshot.report.board.rows
    assert list(frame.columns) == data.LEADERBOARD_COLUMNS
    assert list(frame["Model"]) == [r.model for r in rows]
    for column, key in [("Rating", "rating"), ("CI low", "ci_low"), ("CI high", "ci_high"), ("Battles", "battles"),
                        ("Win rate", "win_rate"), ("Rating (SC)", "rating_sc"), ("Rank", "rank")]:
        assert list(frame[column]) == [getattr(r, key) for r in rows], column
    assert frame["Rating (SC)"].notna().all()
    alpha = frame.set_index("Model").loc["alpha"]
    assert (alpha["Backend"], alpha["Quantization"], alpha["Parameters"]) == ("vllm", "awq", "8B")
    assert frame.set_index("Model").loc["beta", "Parameters"] == ""
    assert data.leaderboard_csv(frame).decode().splitlines()[0].startswith("Rank,Rank (CI),Model,Rating")


def test_rank_span_and_headline(snapshot) -> None:
    assert data.rank_span(1, 1) == "1" and data.rank_span(1, 3) == "1–3"
    text = data.headline(data.category_view(snapshot, None))
    assert text.startswith("**alpha** leads with ")
    whole = data.category_view(snapshot, None)
    x, y = whole.rows[0], whole.rows[1]
    close = replace(whole, rows=(replace(x, rating=1010, ci_low=990, ci_high=1030, rank=1),
                                 replace(y, rating=990, ci_low=970, ci_high=1005, rank=1)))
    assert f"overlaps **{y.model}**" in data.headline(close)


def test_warnings_name_incomparable_groups_and_flagged_models(snapshot) -> None:
    whole = data.category_view(snapshot, None)
    assert data.warnings_for(whole) == []
    split = replace(whole, groups=(("alpha", "beta"), ("gamma",)),
                    rows=(*whole.rows[:2], replace(whole.rows[2], flags=("few battles", "not comparable"), group=2)))
    text = " ".join(data.warnings_for(split))
    assert "2 groups" in text and "group 2: gamma" in text and "few battles, not comparable, group 2" in text


# --- matrices ---------------------------------------------------------------------------------


def test_matrices_are_the_snapshots_pairwise_tables_in_rating_order(store, snapshot) -> None:
    view = data.category_view(snapshot, None)
    pairs = data.pair_matrices(snapshot, view)
    frame = all_battles(store)
    assert pairs.order == view.models
    assert pairs.counts.loc["alpha", "beta"] == 20 == pairs.counts.loc["beta", "alpha"]
    ab = frame[(frame["model_a"] == "alpha") & (frame["model_b"] == "beta")]
    wins = (ab["winner"] == "model_a").sum() + 0.5 * ab["winner"].str.startswith("tie").sum()
    assert pairs.observed.loc["alpha", "beta"] == pytest.approx(wins / len(ab))
    pd.testing.assert_frame_equal(data.predicted_from_ratings(view.rows, view.models), pairs.predicted)
    above = pairs.prob_above
    assert above.loc["alpha", "gamma"] + above.loc["gamma", "alpha"] == pytest.approx(1.0)
    assert np.isnan(above.loc["alpha", "alpha"])


def test_category_matrices_count_that_categorys_rated_battles(store, snapshot) -> None:
    view = data.category_view(snapshot, "nutrition")
    pairs = data.pair_matrices(snapshot, view)
    frame = all_battles(store)
    nutrition = frame[frame["category"] == "nutrition"]
    pair = nutrition[(nutrition["model_a"] == "alpha") & (nutrition["model_b"] == "gamma")]
    wins = (pair["winner"] == "model_a").sum() + 0.5 * pair["winner"].str.startswith("tie").sum()
    assert pairs.counts.loc["alpha", "gamma"] == len(pair) == pairs.counts.loc["gamma", "alpha"]
    assert pairs.observed.loc["alpha", "gamma"] == pytest.approx(wins / len(pair))
    assert pairs.n_battles == view.n_battles == data.count_battles(
        store, data.BattleFilter(data.snapshot_selection(snapshot, "nutrition")))
    ratings = {r.model: r.rating for r in view.rows}
    expected = 1 / (1 + 10 ** ((ratings["gamma"] - ratings["alpha"]) / 400))
    assert pairs.predicted.loc["alpha", "gamma"] == pytest.approx(expected)
    audience = data.category_view(snapshot, "audience:clinician")
    assert data.pair_matrices(snapshot, audience).n_battles == audience.n_battles == 21


def test_head_to_head_on_the_dashboard_is_what_rate_compare_prints(snapshot) -> None:
    view = data.category_view(snapshot, None)
    duel = data.compare_models(snapshot, view, "alpha", "gamma")
    assert duel.wins_a + duel.ties + duel.wins_b == 20 and duel.questions == 20
    assert duel.prob_a_above == pytest.approx(view.pairwise.prob_above[0, 2])
    assert duel.bootstrap == "question" and duel.rounds == 50


def test_every_page_sees_only_the_snapshots_battles(tmp_path: Path) -> None:
    synthetic = make_store(tmp_path, n_questions=12)
    store = open_store(synthetic.url)
    snapshot = data.newest_snapshot(store, "judge")
    with store.transaction() as connection:  # judged after the snapshot: not part of it
        row = connection.execute(select(battles).limit(1)).mappings().one()
        connection.execute(battles.insert().values(**{**{k: v for k, v in row.items() if k != "id"},
                                                      "dedup_key": "later", "winner": "model_b"}))
    selection = data.snapshot_selection(snapshot, None)
    assert data.count_battles(store, data.BattleFilter(selection)) == snapshot.report.n_battles == 36
    assert len(json.loads(data.battles_download(store, selection, "json"))) == 36
    assert int(data.length_win_table(store, selection)["battles"].sum()) <= 36
    store.close()


# --- explorer ---------------------------------------------------------------------------------


def search(store, category: str | None = None, **kwargs) -> pd.DataFrame:
    flt = data.BattleFilter(data.BattleSelection("judge", JUDGE_KEY, view=category), **kwargs)
    found = data.search_battles(store, flt)
    assert data.count_battles(store, flt) == len(found) or len(found) == flt.limit
    return found


def test_explorer_filters(store, synthetic: Synthetic) -> None:
    assert len(search(store)) == 60
    assert list(search(store)["battle"]) == sorted(search(store)["battle"], reverse=True)
    assert len(search(store, limit=7)) == 7
    assert data.count_battles(store, data.BattleFilter(data.BattleSelection("judge"), limit=7)) == 60
    pair = search(store, model="gamma", opponent="alpha")
    assert len(pair) == 20 and set(zip(pair["model_a"], pair["model_b"], strict=False)) == {("alpha", "gamma")}
    assert len(search(store, model="beta")) == 40
    won = search(store, model="gamma", outcome="model won")
    assert all((r.model_a == "gamma" and r.winner == "model_a") or (r.model_b == "gamma" and r.winner == "model_b")
               for r in won.itertuples())
    lost = search(store, model="gamma", outcome="model lost")
    assert len(lost) + len(won) + len(search(store, model="gamma", outcome="tie")) \
        + len(search(store, model="gamma", outcome="tie (bothbad)")) == 40
    assert set(search(store, outcome="order disagreement")["battle"]) == set(synthetic.disagreement_battle_ids)
    invalid = search(store, outcome="invalid verdict")
    assert len(invalid) == len(synthetic.invalid_judgment_ids) == 1
    truncated = search(store, outcome="truncated")
    assert set(truncated["question_id"]) == {synthetic.truncated_question_id}
    assert all("beta" in (r.model_a, r.model_b) for r in truncated.itertuples())
    assert set(search(store, text="QUESTION 7 about")["question_id"]) == {"q-007"}
    assert len(search(store, text="100%_")) == 0  # LIKE wildcards are taken literally
    assert set(search(store, category="cardiology")["category"]) == {"cardiology"}
    assert len(search(store, category="audience:clinician")) == 21
    with pytest.raises(data.ArenaError, match="needs a model"):
        search(store, outcome="model won")
    with pytest.raises(data.ArenaError, match="unknown outcome"):
        search(store, outcome="sideways")


def test_battle_detail_puts_each_answer_and_judgment_in_its_place(store, synthetic: Synthetic) -> None:
    battle_id = int(search(store, model="beta", opponent="alpha", text="Question 1 about")["battle"].iloc[0])
    detail = data.battle_detail(store, battle_id)
    assert detail is not None
    assert (detail.model_a, detail.model_b, detail.question_id) == ("alpha", "beta", "q-001")
    assert detail.question.startswith("Question 1 about nutrition")
    assert detail.answer_a.model == "alpha" and detail.answer_a.text.startswith("alpha answers question 1.")
    assert detail.answer_b.model == "beta" and detail.answer_b.truncated and not detail.answer_a.truncated
    ab, ba = detail.judgments
    assert (ab.shown_a, ab.shown_b, ba.shown_a, ba.shown_b) == ("alpha", "beta", "beta", "alpha")
    assert ab.preferred == ba.preferred == "alpha" == data.winner_name(detail)
    assert ab.feedback == "Feedback on alpha versus beta for q-001."
    assert detail.reference == REFERENCE
    assert data.battle_detail(store, 10**9) is None


def test_battle_detail_shows_an_invalid_verdict(store, synthetic: Synthetic) -> None:
    battle_id = int(search(store, outcome="invalid verdict")["battle"].iloc[0])
    detail = data.battle_detail(store, battle_id)
    flagged = [j for j in detail.judgments if not j.valid]
    assert len(flagged) == 1 and flagged[0].verdict is None and flagged[0].preferred is None
    assert flagged[0].attempts == 3 and "garbled" in flagged[0].raw_output


# --- judge diagnostics, history, downloads ----------------------------------------------------


def test_length_table_counts_every_battle_of_unequal_length(store) -> None:
    frame = all_battles(store)
    unequal = int((frame["answer_a_len"] != frame["answer_b_len"]).sum())
    table = data.length_win_table(store, data.BattleSelection("judge", JUDGE_KEY))
    assert int(table["battles"].sum()) == unequal
    assert table["longer_wins"].between(0, 1).all()
    assert (table["bin_low"] < table["bin_high"]).all()
    assert data.length_win_table(store, data.BattleSelection("judge", "no-such-key")).empty


def test_invalid_judgments_and_diagnostic_rows(store, snapshot, synthetic: Synthetic) -> None:
    total, frame = data.invalid_judgments(store, JUDGE_KEY)
    assert total == 1 and list(frame["judgment"]) == list(synthetic.invalid_judgment_ids)
    labels = [label for label, _value, _help in data.diagnostics_rows(snapshot.report)]
    assert labels == ["First-position win share", "Order disagreement", "Length-win correlation", "Invalid verdicts"]
    values = dict((label, value) for label, value, _ in data.diagnostics_rows(snapshot.report))
    assert values["Invalid verdicts"] == f"1 of {6 * synthetic.n_questions}"
    assert values["First-position win share"].endswith("%")


def test_history_and_data_version_follow_new_snapshots(tmp_path: Path) -> None:
    synthetic = make_store(tmp_path, n_questions=12)
    store = open_store(synthetic.url)
    before = data.data_version(store)
    with store.transaction() as connection:  # a new judged battle, then a new rating
        row = connection.execute(select(battles).limit(1)).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        connection.execute(battles.insert().values(**{**values, "dedup_key": "another", "winner": "model_b"}))
    rate_store(store)
    after = data.data_version(store)
    assert after[0] > before[0] and after[1] > before[1] and after[2] == before[2]
    history = data.rating_history(store, data.newest_snapshot(store, "judge"), None)
    assert history["snapshot"].nunique() == 2 and set(history["model"]) == {"alpha", "beta", "gamma"}
    assert (history["ci_low"] <= history["rating"]).all() and (history["rating"] <= history["ci_high"]).all()
    assert data.rating_history(store, data.newest_snapshot(store, "judge"), "dermatology").empty
    store.close()


def test_battle_downloads_can_be_imported_again(store, snapshot, tmp_path: Path) -> None:
    as_csv = data.battles_download(store, data.snapshot_selection(snapshot, None), "csv").decode()
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert len(rows) == 60 and list(rows[0]) == list(EXPORT_FIELDS)
    as_json = json.loads(data.battles_download(store, data.snapshot_selection(snapshot, "cardiology"), "json"))
    assert len(as_json) == 30 and {r["category"] for r in as_json} == {"cardiology"}
    (tmp_path / "battles.json").write_text(json.dumps(as_json))
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    report = import_battles(fresh, tmp_path / "battles.json", "import:check")
    assert report.imported == 30 and not report.problems
    with fresh.connect() as connection:
        assert connection.execute(select(func.count()).select_from(battles)).scalar_one() == 30
    fresh.close()
    with pytest.raises(data.ArenaError, match="csv or json"):
        data.battles_download(store, data.snapshot_selection(snapshot, None), "xml")

