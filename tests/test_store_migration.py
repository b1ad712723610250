"""Upgrading a version-1 store: judged battles learn their answers and verdicts, answers their style."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from arena.answers import answer_style
from arena.store.engine import open_store
from arena.store.schema import SCHEMA_VERSION, answers, battles, meta
from tests.ratings.store_helpers import add_imported_battles, add_judged_battle, new_store

NEW_BATTLE_COLUMNS = ("answer_a_id", "answer_b_id", "verdicts", "answer_a_tokens", "answer_b_tokens",
                      "answer_a_headers", "answer_b_headers", "answer_a_list_items", "answer_b_list_items",
                      "answer_a_bold", "answer_b_bold")
NEW_ANSWER_COLUMNS = ("headers", "list_items", "bold")


def make_version_1(root: Path) -> None:
    """A store as release 1 left it: no new battle or answer columns, no rated_answers table."""
    store = new_store(root)
    add_judged_battle(store, "key", "alpha", "beta", "A", "B", tstamp=1.0)
    add_judged_battle(store, "key", "beta", "gamma", "A", "A", tstamp=2.0)
    add_imported_battles(store, "import:crowd", [{"model_a": "x", "model_b": "y", "winner": "tie"}])
    with store.transaction() as connection:
        connection.execute(answers.update().where(answers.c.model == "beta").values(
            text="# Heading\n- one\n- two\n**bold**", completion_tokens=42))
    store.close()
    connection = sqlite3.connect(root / "arena.db")
    connection.execute("DROP TABLE rated_answers")
    connection.execute("DROP INDEX ix_judgments_valid")
    for column in NEW_BATTLE_COLUMNS:
        connection.execute(f"ALTER TABLE battles DROP COLUMN {column}")
    for column in NEW_ANSWER_COLUMNS:
        connection.execute(f"ALTER TABLE answers DROP COLUMN {column}")
    connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()


def test_version_1_battles_get_answer_ids_and_verdicts_and_answers_their_style(tmp_path: Path) -> None:
    make_version_1(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'arena.db'}")
    with store.connect() as connection:
        version = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        rows = [dict(r._mapping) for r in connection.execute(select(battles).order_by(battles.c.id))]
        stored = {r.id: r for r in connection.execute(select(answers))}
    store.close()
    assert version == str(SCHEMA_VERSION)
    first, second, imported = rows
    assert first["verdicts"] == "AB" and second["verdicts"] == "AA"
    for battle in (first, second):
        assert stored[battle["answer_a_id"]].model == battle["model_a"]
        assert stored[battle["answer_b_id"]].model == battle["model_b"]
    for answer in stored.values():
        style = answer_style(answer.text, None)
        assert (answer.headers, answer.list_items, answer.bold) == (style.headers, style.list_items, style.bold)
    beta = stored[first["answer_b_id"]]
    assert (beta.completion_tokens, beta.headers, beta.list_items, beta.bold) == (42, 1, 2, 1)
    assert all(imported[column] is None for column in NEW_BATTLE_COLUMNS)  # nothing to learn from
