"""A storage password is never shown: it comes from `storage_password_env` (or the URL), and every
message, summary, the dashboard's start line and its pages print the URL with *** instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from arena.cli import app
from arena.config import load_config
from arena.errors import ConfigError
from arena.store.engine import open_store, redacted_url
from tests.dashboard.conftest import APP
from tests.fakes import project as fakes
from tests.fakes.project import openai_model
from tests.postgres_cluster import Cluster

PASSWORD = "Sw0rdf1sh-never-shown"
runner = CliRunner()


def write_project(root: Path, storage: str, password_env: str | None = None) -> Path:
    return fakes.write_project(
        root, models=[openai_model("m1", model="m1"), openai_model("m2", model="m2")],
        questions=[{"id": "q1", "text": "What is a fever?", "category": "c"}], storage=storage,
        extra={"storage_password_env": password_env} if password_env else None)


def test_redacted_url_masks_only_the_password() -> None:
    assert redacted_url("postgresql+psycopg://u:pw@db.example:5432/arena") == \
        "postgresql+psycopg://u:***@db.example:5432/arena"
    assert redacted_url("postgresql://u@db/arena") == "postgresql://u@db/arena"
    assert redacted_url("sqlite:////data/arena.db") == "sqlite:////data/arena.db"


def test_the_password_comes_from_the_named_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_project(tmp_path, "postgresql+psycopg://arena@db:5432/board", "ARENA_DB_PW"))
    with pytest.raises(ConfigError, match="environment variable ARENA_DB_PW .storage_password_env. is not set"):
        _ = config.storage_url
    monkeypatch.setenv("ARENA_DB_PW", "p@ss/w:rd")
    assert config.storage_url == "postgresql+psycopg://arena:p%40ss%2Fw%3Ard@db:5432/board"
    with pytest.raises(ConfigError, match="already has a password"):
        load_config(write_project(tmp_path, "postgresql://arena:x@db/board", "ARENA_DB_PW"))
    with pytest.raises(ConfigError, match="needs a storage URL with a user name"):
        load_config(write_project(tmp_path, "postgresql://db/board", "ARENA_DB_PW"))


def _outputs(result) -> str:  # type: ignore[no-untyped-def]
    return result.stdout + result.stderr + (str(result.exception) if result.exception else "")


def test_no_command_shows_the_password(tmp_path: Path, postgres_cluster: Cluster,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    database = postgres_cluster.new_database()
    in_url = write_project(tmp_path / "in-url", postgres_cluster.url(database, password=PASSWORD))
    monkeypatch.setenv("ARENA_DB_PW", PASSWORD)
    from_env = write_project(tmp_path / "from-env", postgres_cluster.url(database), "ARENA_DB_PW")
    missing = write_project(tmp_path / "missing", postgres_cluster.url("no_such_db", password=PASSWORD))
    votes = tmp_path / "votes.jsonl"
    votes.write_text(json.dumps({"model_a": "m1", "model_b": "m2", "winner": "model_a"}) + "\n")
    seen = []
    for config in (in_url, from_env):  # succeeding commands
        result = runner.invoke(app, ["battles", "import", str(votes), "-c", str(config), "--source", "v"])
        assert result.exit_code == 0, _outputs(result)
        seen.append(_outputs(result))
        result = runner.invoke(app, ["nightly", "-c", str(config), "--dry-run"])
        seen.append(_outputs(result))
    for args in (["rate", "-c", str(missing)], ["nightly", "-c", str(missing), "--dry-run"],
                 ["battles", "export", "-c", str(missing)]):  # failing: the database does not exist
        result = runner.invoke(app, args)
        seen.append(_outputs(result))
        assert "no_such_db" in _outputs(result), _outputs(result)
    shown = "\n".join(seen)
    assert PASSWORD not in shown
    assert "arena:***@127.0.0.1" in shown  # the URL is still named, masked

    monkeypatch.setattr("subprocess.call", lambda command: 0)  # the start line, without starting Streamlit
    result = runner.invoke(app, ["dashboard", "-c", str(in_url), "--port", "9"])
    assert "dashboard of postgresql+psycopg://arena:***@127.0.0.1" in result.stderr
    assert PASSWORD not in _outputs(result)


def test_the_dashboard_page_does_not_show_the_password(tmp_path: Path, postgres_cluster: Cluster,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    empty = postgres_cluster.url(postgres_cluster.new_database(), password=PASSWORD)
    config = write_project(tmp_path, empty)  # a database without tables: the page names the store
    monkeypatch.setenv("ARENA_CONFIG", str(config))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    page = "\n".join(str(element.value) for kind in ("title", "info", "error", "warning", "markdown", "caption", "code")
                      for element in at.get(kind))
    assert "Nothing to show yet" in page and "arena:***@127.0.0.1" in page
    assert PASSWORD not in page
    open_store(empty).close()
