"""Battles into arrays: the two readers agree, views match their SQL, the selection is exact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from arena.ratings.data import battles_fingerprint, load_battles, view_mask, view_names
from arena.store import battles as battle_reads
from arena.store.battles import SAFETY_VIEW, BattleSelection
from arena.store.schema import battles
from arena.store.snapshots import save_answer_set
from tests.ratings.store_helpers import (
    JudgedStore,
    add_imported_battles,
    question_rows,
    write_project,
)

MODELS = ["alpha", "beta", "gamma"]


@pytest.fixture()
def judged(tmp_path: Path, store_url: str) -> JudgedStore:
    config = write_project(tmp_path, MODELS, question_rows(12, ("cardiology", "oncology"), safety_every=4),
                           storage=store_url)
    store = JudgedStore(config)
    verdicts = [("A", "B"), ("B", "A"), ("A", "A"), ("B", "B")]
    for k in range(1, 13):
        for n, (x, y) in enumerate([("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]):
            store.battle("key", x, y, *verdicts[(k + n) % 4], question_id=f"q{k}")
    add_imported_battles(store.store, "import:crowd", [
        {"model_a": "alpha", "model_b": "beta", "winner": "tie", "question_id": None},
        {"model_a": "beta", "model_b": "alpha", "winner": "model_a", "question_id": "q1", "category": "oncology"},
    ])
    yield store
    store.close()


def counted(store, selection: BattleSelection) -> int:  # type: ignore[no-untyped-def]
    with store.connect() as connection:
        return connection.execute(select(func.count()).select_from(battles).where(*selection.conditions())).scalar_one()


def test_both_readers_give_the_same_battles(judged: JudgedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for selection in (BattleSelection("judge", "key"), BattleSelection("import:crowd")):
        fast = load_battles(judged.store, selection)
        monkeypatch.setattr(battle_reads, "_read_concatenated", lambda *args: None)
        slow = load_battles(judged.store, selection)
        monkeypatch.undo()
        assert fast.models == slow.models and fast.questions == slow.questions
        for name in ("a", "b", "score_a", "cluster", "category", "answer_a", "answer_b", "verdicts", "battle_id",
                     "tstamp_us", "question_safety", "question_audience"):
            assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
        np.testing.assert_array_equal(fast.style_a, slow.style_a)
        assert battles_fingerprint(fast) == battles_fingerprint(slow)


def test_names_holding_the_separator_fall_back_to_rows(judged: JudgedStore) -> None:
    add_imported_battles(judged.store, "import:odd", [{"model_a": "a\x1fb", "model_b": "c", "winner": "tie"}])
    assert load_battles(judged.store, BattleSelection("import:odd")).models == ["a\x1fb", "c"]


def test_a_judged_battle_has_its_answers_verdicts_style_and_question(judged: JudgedStore) -> None:
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    assert bs.n_battles == 36 and bs.models == MODELS and bs.n_questions() == 12
    assert (bs.answer_a >= 0).all() and (bs.verdicts >= 0).all() and not np.isnan(bs.style_a).any()
    first = judged.current["alpha", "q1"]
    k = int(np.flatnonzero(bs.answer_a == first["id"])[0])
    assert bs.style_a[k, 0] == first["tokens"] and bs.questions[bs.cluster[k]] == "q1"
    assert list(bs.battle_id) == sorted(bs.battle_id)
    crowd = load_battles(judged.store, BattleSelection("import:crowd"))
    assert list(crowd.cluster) == [-1, crowd.questions.index("q1")] and np.isnan(crowd.style_a).all()


def test_judged_models_and_questions_come_from_the_battles_answers_only(judged: JudgedStore) -> None:
    judged.answer("delta", "q2", fingerprint="older-settings")  # an answer in the id range that no battle uses
    later = [judged.answer(m, "q3", fingerprint="later-settings") for m in ("alpha", "beta")]
    judged.battle("key", "alpha", "beta", "A", "A", question_id="q3", answer_a=later[0], answer_b=later[1])
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    columns = battle_reads.read_columns(judged.store, BattleSelection("judge", "key"))
    assert isinstance(columns["model_a"], battle_reads.CodedTexts)  # read from the answers, not per battle
    assert bs.models == MODELS and bs.n_battles == 37 and bs.n_questions() == 12


def test_a_judged_battle_whose_answer_is_gone_is_read_from_its_row(judged: JudgedStore) -> None:
    with judged.store.transaction() as connection:
        first = connection.execute(select(func.min(battles.c.id)).where(battles.c.source == "judge")).scalar_one()
        connection.execute(battles.update().where(battles.c.id == first).values(answer_a_id=10_000))
    columns = battle_reads.read_columns(judged.store, BattleSelection("judge", "key"))
    assert isinstance(columns["model_a"], list)
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    assert bs.models == MODELS and bs.n_battles == 36 and bs.n_questions() == 12
    assert np.isnan(bs.style_a[0]).all() and not np.isnan(bs.style_a[1:]).any()


def test_views_on_loaded_battles_are_the_views_sql_selects(judged: JudgedStore) -> None:
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    names = view_names(bs)
    assert names == ["cardiology", "oncology", "audience:clinician", "audience:patient", SAFETY_VIEW]
    for name in [*names, "audience:nobody", "dermatology"]:
        sql = counted(judged.store, BattleSelection("judge", "key", view=name))
        assert int(view_mask(bs, name).sum()) == sql, name
    assert int(view_mask(bs, SAFETY_VIEW).sum()) == 9  # q4, q8, q12: three pairs each


def test_answer_set_and_newest_battle_select_exactly_the_rated_battles(judged: JudgedStore) -> None:
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    old = judged.answer("alpha", "q1", fingerprint="older-settings")
    judged.battle("key", "alpha", "beta", "A", "B", question_id="q1", answer_a=old)  # not in the rated set
    kept = bs.subset(bs.battle_id <= bs.battle_id[20])
    digest = save_answer_set(judged.store, np.concatenate([kept.answer_a, kept.answer_b]))
    assert save_answer_set(judged.store, np.concatenate([kept.answer_b, kept.answer_a])) == digest  # stored once
    selection = BattleSelection("judge", "key", answer_set=digest, max_battle_id=int(kept.battle_id.max()))
    assert counted(judged.store, selection) == kept.n_battles == 21
    again = load_battles(judged.store, selection)
    assert np.array_equal(again.battle_id, kept.battle_id)
    assert BattleSelection.from_json(selection.for_view("oncology").to_json()) == selection.for_view("oncology")


def test_fingerprint_changes_with_content_and_order(judged: JudgedStore) -> None:
    bs = load_battles(judged.store, BattleSelection("judge", "key"))
    assert battles_fingerprint(bs) == battles_fingerprint(bs.subset(np.ones(bs.n_battles, dtype=bool)))
    flipped = dataclasses.replace(bs, score_a=1.0 - bs.score_a)
    assert battles_fingerprint(flipped) != battles_fingerprint(bs)
    reordered = dataclasses.replace(bs, a=bs.a[::-1].copy(), b=bs.b[::-1].copy(), score_a=bs.score_a[::-1].copy())
    assert battles_fingerprint(reordered) != battles_fingerprint(bs)
