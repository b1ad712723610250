"""The store's tables: their columns, the schema version, and upgrading an older store in place.

Only portable SQLAlchemy Core constructs are used, so any SQLAlchemy URL (SQLite by default,
PostgreSQL) holds the same tables. The values some columns take (a battle's winner, its two
verdicts) are named here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

from arena.answers import answer_style
from arena.errors import StoreError

# Bump when the tables change. Changes between versions are additive (new tables, new nullable
# columns, new indexes), so an older store is upgraded in place by `upgrade_schema`; a step that
# must also rewrite data goes into DATA_MIGRATIONS (below the tables) under the version it upgrades from.
# 2: judgments record the seed sent, the finish reason and the reference answer's fingerprint;
#    the validation_items and validation_judgments tables (`arena judge validate`); battles keep
#    both answer ids and the two verdicts; answers their markdown counts; rated_answers.
# 3: work_leases (several `arena judge` / `arena generate` workers on one store).
# 4: (unused: the judge jury needed no table)
# 5: the cost ledger: judgments record their prompt and completion tokens (all attempts), and
#    the runs table one row per generate or judge run (backend, GPUs, wall time, tokens, prices).
SCHEMA_VERSION = 5

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

questions = Table(
    "questions",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("text", Text, nullable=False),
    Column("category", String(100), nullable=False, default=""),
    Column("audience", String(50), nullable=False, default=""),
    Column("kind", String(100), nullable=False, default=""),
    Column("safety_critical", Boolean, nullable=False, default=False),
    Column("reference_answer", Text),
    Column("source_file", Text),
)

answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("question_id", String(200), nullable=False),
    # fingerprint of the model settings, template, system prompt and question text
    Column("fingerprint", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("finish_reason", String(32)),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    # markdown counts of the text (arena.answers.answer_style): with completion_tokens, style control's covariates
    Column("headers", Integer),
    Column("list_items", Integer),
    Column("bold", Integer),
    Column("latency_s", Float),
    Column("engine", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model", "question_id", "fingerprint", name="uq_answer"),
)

judgments = Table(
    "judgments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # fingerprint of judge settings + rubric (id, version, text) + prompt template version
    Column("judge_key", String(32), nullable=False),
    Column("question_id", String(200), nullable=False),
    # the model shown as Response A, and as Response B
    Column("model_a", String(200), nullable=False),
    Column("model_b", String(200), nullable=False),
    Column("answer_a_id", Integer, ForeignKey("answers.id"), nullable=False),
    Column("answer_b_id", Integer, ForeignKey("answers.id"), nullable=False),
    Column("judge", String(200), nullable=False),
    Column("rubric_id", String(100), nullable=False),
    Column("rubric_version", String(50), nullable=False),
    Column("prompt_version", String(50), nullable=False),
    Column("raw_output", Text, nullable=False),
    Column("feedback", Text),
    Column("verdict", String(1)),  # "A", "B", or NULL when invalid
    Column("valid", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("p_a", Float),  # P(verdict A) from the final verdict token's logprobs, when known
    Column("truncated", Boolean, nullable=False, default=False),
    Column("latency_s", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seed", Integer),  # the seed sent with the final attempt (NULL: none sent)
    Column("finish_reason", String(32)),  # the backend's, for the final attempt
    # fingerprint of the question's reference answer the judge read (NULL: none)
    Column("reference_fingerprint", String(32)),
    # the cost ledger: tokens of every attempt that made this judgment (latency_s is the final one's)
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    UniqueConstraint("judge_key", "answer_a_id", "answer_b_id", name="uq_judgment"),
)

BATTLE_WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")  # the values of battles.winner
# a winner as model_a's score: a win is 1, a tie (either kind) half
WINNER_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
BATTLE_VERDICTS = ("AB", "BA", "AA", "BB")  # the values of battles.verdicts
JUDGE_SOURCE = "judge"  # battles.source of the battles `arena judge` makes; imports have their own label

battles = Table(
    "battles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "judge" for battles made by `arena judge`; the import's label for imported ones
    Column("source", String(100), nullable=False),
    Column("question_id", String(200)),
    Column("category", String(100)),
    Column("model_a", String(200), nullable=False),
    Column("model_b", String(200), nullable=False),
    Column("winner", String(20), nullable=False),  # model_a | model_b | tie | tie (bothbad)
    Column("judge", String(200)),
    Column("judge_key", String(32)),
    Column("judgment_ab_id", Integer, ForeignKey("judgments.id")),  # model_a shown as A
    Column("judgment_ba_id", Integer, ForeignKey("judgments.id")),  # model_b shown as A
    Column("answer_a_len", Integer),
    Column("answer_b_len", Integer),
    # model_a's and model_b's answers: this store's answer ids for judged battles, the exporting
    # store's for imported ones (so no foreign key)
    Column("answer_a_id", Integer),
    Column("answer_b_id", Integer),
    # the judge's two verdicts, model_a shown first then model_b shown first: "AB", "BA", "AA", "BB"
    Column("verdicts", String(2)),
    # style covariates of imported battles (arena.answers.answer_style); a judged battle's are its answers'
    Column("answer_a_tokens", Integer),
    Column("answer_b_tokens", Integer),
    Column("answer_a_headers", Integer),
    Column("answer_b_headers", Integer),
    Column("answer_a_list_items", Integer),
    Column("answer_b_list_items", Integer),
    Column("answer_a_bold", Integer),
    Column("answer_b_bold", Integer),
    Column("dedup_key", String(64), nullable=False),
    Column("tstamp", Float, nullable=False),
    UniqueConstraint("source", "dedup_key", name="uq_battle"),
)

# `arena judge validate`: labelled pairs, and the judge's verdicts on them in both orders.
validation_items = Table(
    "validation_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(200), nullable=False),
    Column("item_id", String(200), nullable=False),
    # fingerprint of what the judge reads: instruction, both responses, reference, rubric
    Column("fingerprint", String(32), nullable=False),
    Column("category", String(100), nullable=False, default=""),
    Column("label", String(3), nullable=False),  # "A", "B" or "tie" (the human preference)
    Column("instruction", Text, nullable=False),
    Column("response_a", Text, nullable=False),
    Column("response_b", Text, nullable=False),
    Column("reference", Text),
    Column("rubric", Text),  # the item's own rubric line; NULL: the project's rubric
    Column("source_file", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "item_id", name="uq_validation_item"),
)

validation_judgments = Table(
    "validation_judgments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("judge_key", String(32), nullable=False),
    Column("item_fingerprint", String(32), nullable=False),
    Column("position", String(2), nullable=False),  # "ab": the item's response_a shown as Response A
    Column("judge", String(200), nullable=False),
    Column("rubric_id", String(100), nullable=False),
    Column("rubric_version", String(50), nullable=False),
    Column("prompt_version", String(50), nullable=False),
    Column("raw_output", Text, nullable=False),
    Column("feedback", Text),
    Column("verdict", String(1)),  # "A", "B", or NULL when invalid
    Column("valid", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("p_a", Float),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("seed", Integer),
    Column("finish_reason", String(32)),
    Column("latency_s", Float),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("judge_key", "item_fingerprint", "position", name="uq_validation_judgment"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("battles_fingerprint", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("category", String(100)),
    Column("judge", String(200)),
    Column("judge_key", String(32)),
    Column("rubric", String(200)),
    Column("method", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
)

# The answers a rating counted as current, stored once per distinct set (keyed by its digest) so
# the dashboard selects exactly the battles of the snapshot it shows.
rated_answers = Table(
    "rated_answers",
    metadata,
    Column("answer_set", String(32), primary_key=True),
    Column("answer_id", Integer, primary_key=True),
)

RUN_KINDS = ("generate", "judge")  # the values of runs.kind

# The cost ledger: one row per model per `arena generate` and per judge per `arena judge` that
# loaded a backend. Totals are updated while the run goes, so a killed run keeps what it spent.
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # generate | judge
    Column("name", String(200), nullable=False),  # the model's or the judge's name
    Column("judge_key", String(32)),  # judge runs: the key their judgments carry
    Column("backend", String(50), nullable=False),
    Column("gpus", Integer, nullable=False),  # GPUs held for the whole run (0: CPU or a priced API)
    Column("session", String(100)),  # the nightly run id, when a nightly run made it
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),  # NULL: still running, or killed
    Column("wall_s", Float, nullable=False),  # started to finished (or to the last update)
    Column("items", Integer, nullable=False),  # answers or judgments stored
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    # the entry's price per million tokens when the run started (NULL: not priced)
    Column("price_prompt", Float),
    Column("price_completion", Float),
)

run_locks = Table(
    "run_locks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# Work claimed by one of several concurrent workers (`store/leases.py`): a unit of work (one pair
# to judge, one answer to generate) is leased to a worker until `expires_at`, renewed while it works.
work_leases = Table(
    "work_leases",
    metadata,
    Column("unit", String(255), primary_key=True),
    Column("worker", String(255), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

Index("ix_answers_model_fp", answers.c.model, answers.c.fingerprint)
Index("ix_judgments_question", judgments.c.judge_key, judgments.c.question_id)
Index("ix_judgments_valid", judgments.c.judge_key, judgments.c.valid)  # invalid-verdict counts, index only
Index("ix_battles_source", battles.c.source, battles.c.judge_key)
Index("ix_snapshots_time", snapshots.c.source, snapshots.c.created_at)
Index("ix_runs_kind", runs.c.kind, runs.c.name)
Index("ix_runs_session", runs.c.session)
Index("ix_validation_items_dataset", validation_items.c.dataset, validation_items.c.fingerprint)


def _battle_answers_and_answer_style(connection: Connection) -> None:
    """Version 1 -> 2: judged battles learn their answer ids and verdicts from their two judgments,
    and every answer its markdown counts (arena.answers.answer_style), counted from its text once."""
    ab, ba = judgments.alias("ab"), judgments.alias("ba")

    def of(alias: Any, judgment_id: Any, column: str) -> Any:
        return select(alias.c[column]).where(alias.c.id == judgment_id).scalar_subquery()

    connection.execute(
        update(battles)
        .where(battles.c.judgment_ab_id.is_not(None), battles.c.judgment_ba_id.is_not(None))
        .values(answer_a_id=of(ab, battles.c.judgment_ab_id, "answer_a_id"),
                answer_b_id=of(ab, battles.c.judgment_ab_id, "answer_b_id"),
                verdicts=func.coalesce(of(ab, battles.c.judgment_ab_id, "verdict"), "")
                + func.coalesce(of(ba, battles.c.judgment_ba_id, "verdict"), ""))
    )
    counts = []
    for row in connection.execute(select(answers.c.id, answers.c.text)):  # read one by one; only counts kept
        style = answer_style(row.text, None)
        counts.append({"answer_id": row.id, "headers": style.headers, "list_items": style.list_items,
                       "bold": style.bold})
    statement = update(answers).where(answers.c.id == bindparam("answer_id")).values(
        headers=bindparam("headers"), list_items=bindparam("list_items"), bold=bindparam("bold"))
    for start in range(0, len(counts), 5000):
        connection.execute(statement, counts[start:start + 5000])


DATA_MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _battle_answers_and_answer_style}


def upgrade_schema(connection: Connection, version: int) -> None:
    """Bring a store at `version` up to SCHEMA_VERSION in the caller's transaction."""
    metadata.create_all(connection)  # new tables, with their indexes
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise StoreError(f"schema upgrade: new column {table.name}.{column.name} needs a default")
            spec = CreateColumn(column).compile(dialect=connection.dialect)
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {spec}"))
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(connection)
    for step in range(version, SCHEMA_VERSION):
        if step in DATA_MIGRATIONS:
            DATA_MIGRATIONS[step](connection)
    connection.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
