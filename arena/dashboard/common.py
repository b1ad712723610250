"""Streamlit glue shared by the dashboard's pages: where the project is, caching, the sidebar.

Data loading lives in `arena.dashboard.data`; this module only caches it. Every cached call is
keyed on the store URL and `data_version` (the newest snapshot, battle and judgment ids), so a
new snapshot or new battles invalidate the cache on the next page load, and nothing is refitted.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from arena.config import ArenaConfig
from arena.dashboard import data
from arena.safe_text import markdown_text
from arena.store.engine import Store

CONFIG_ENV = "ARENA_CONFIG"


def config_path_from_args(argv: list[str]) -> Path:
    """`streamlit run app.py -- --config PATH`, else $ARENA_CONFIG, else ./arena.yaml."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--config")
    known, _ = parser.parse_known_args(argv)
    return Path(known.config or os.environ.get(CONFIG_ENV) or "arena.yaml").resolve()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return data.open_read_only(url)


def store(url: str) -> Store:
    return _store(url)


@st.cache_data(show_spinner=False, max_entries=4)
def _config(path: str, mtime: float) -> ArenaConfig | data.Guide:
    return data.config_or_guide(Path(path))


Version = tuple[int, int, int]


@st.cache_data(show_spinner=False, max_entries=16)
def sources(url: str, version: Version) -> list[str]:
    return data.snapshot_sources(store(url))


@st.cache_data(show_spinner=False, max_entries=16)
def snapshot(url: str, version: Version, source: str) -> data.Snapshot | None:
    return data.newest_snapshot(store(url), source)


@st.cache_data(show_spinner=False, max_entries=32)
def matrices(url: str, version: Version, source: str, category: str | None) -> data.PairMatrices:
    snap = snapshot(url, version, source)
    assert snap is not None
    return data.pair_matrices(snap, data.category_view(snap, category))


@st.cache_data(show_spinner=False, max_entries=16)
def history(url: str, version: Version, source: str, category: str | None) -> pd.DataFrame:
    snap = snapshot(url, version, source)
    assert snap is not None
    return data.rating_history(store(url), snap, category)


@st.cache_data(show_spinner=False, max_entries=64)
def search(url: str, version: Version, flt: data.BattleFilter) -> tuple[pd.DataFrame, int]:
    return data.search_battles(store(url), flt), data.count_battles(store(url), flt)


@st.cache_data(show_spinner=False, max_entries=64)
def detail(url: str, version: Version, battle_id: int) -> data.BattleDetail | None:
    return data.battle_detail(store(url), battle_id)


@st.cache_data(show_spinner=False, max_entries=16)
def length_table(url: str, version: Version, selection: data.BattleSelection) -> pd.DataFrame:
    return data.length_win_table(store(url), selection)


@st.cache_data(show_spinner=False, max_entries=16)
def older_snapshots(url: str, version: Version, source: str, judge_key: str | None) -> int:
    return data.older_snapshots(store(url), source, judge_key)


@st.cache_data(show_spinner=False, max_entries=16)
def invalid(url: str, version: Version, judge_key: str | None) -> tuple[int, pd.DataFrame]:
    return data.invalid_judgments(store(url), judge_key)


@st.cache_data(show_spinner=False, max_entries=16)
def validation_runs(url: str, version: tuple[int, int]) -> pd.DataFrame:
    return data.validation_runs(store(url))


@st.cache_data(show_spinner=False, max_entries=32)
def validation_report(url: str, version: tuple[int, int], dataset: str, judge_key: str) -> data.ValidationReport:
    return data.validation_report(store(url), dataset, judge_key)


@dataclass(frozen=True)
class View:
    """What every page shows: one project, one snapshot, one category (None = all questions)."""

    config: ArenaConfig
    url: str
    version: Version
    snapshot: data.Snapshot
    category: str | None

    @property
    def ratings(self) -> data.Board:
        return data.category_view(self.snapshot, self.category)

    @property
    def selection(self) -> data.BattleSelection:
        """The battles of the snapshot in the chosen category: what every page shows."""
        return data.snapshot_selection(self.snapshot, self.category)

    @property
    def category_label(self) -> str:
        return markdown_text(self.category) if self.category else data.ALL_CATEGORIES  # shown as Markdown


def _guide_or_project(config_path: Path) -> tuple[ArenaConfig, Store] | data.Guide:
    mtime = config_path.stat().st_mtime if config_path.is_file() else 0.0
    config = _config(str(config_path), mtime)
    if isinstance(config, data.Guide):
        return config
    try:
        return config, store(config.storage_url)
    except data.ArenaError as exc:  # not cached: the store shows up once `arena generate` made it
        return data.no_store_guide(config, exc)


def _keep_choice(key: str, options: list[str]) -> None:
    """Carry a sidebar choice over to the next page (Streamlit forgets widgets a page doesn't draw)."""
    if key in st.session_state:
        if st.session_state[key] in options:
            st.session_state[key] = st.session_state[key]
        else:
            del st.session_state[key]


def opened_store(config_path: Path) -> Store | None:
    """The project's store when there is one (whether or not it has ratings yet)."""
    opened = _guide_or_project(config_path)
    return None if isinstance(opened, data.Guide) else opened[1]


def prepare(config_path: Path) -> View | data.Guide:
    """Open the project, find the newest snapshot, and draw the sidebar selectors."""
    opened = _guide_or_project(config_path)
    if isinstance(opened, data.Guide):
        return opened
    config, opened_store = opened
    version = data.data_version(opened_store)
    found = sources(opened_store.url, version)
    if not found:
        return data.progress_guide(opened_store, config.path)
    source = found[0]
    if len(found) > 1:
        _keep_choice("source", found)
        source = st.sidebar.selectbox("Battles from", found, key="source",
                                      help="Judged by our judge, or imported from elsewhere.")
    snap = snapshot(opened_store.url, version, source)
    assert snap is not None
    options = [data.ALL_CATEGORIES, *data.snapshot_categories(snap)]
    _keep_choice("category", options)
    chosen = st.sidebar.selectbox("Category", options, key="category",
                                  help="Every page switches to this category's ratings and battles.")
    st.sidebar.caption(
        f"Snapshot #{snap.id} of {snap.created_at:%Y-%m-%d %H:%M} · {snap.report.n_battles} battles · "
        f"{snap.method} · {snap.report.params.bootstrap}-level bootstrap · judge {markdown_text(snap.judge or 'n/a')}"
    )
    category = None if chosen == data.ALL_CATEGORIES else chosen
    return View(config=config, url=opened_store.url, version=version, snapshot=snap, category=category)


def show_guide(guide: data.Guide) -> None:
    st.info(guide.message + "\n\n" + "\n".join(f"- `{command}`" for command in guide.commands))


def page_view() -> View:
    """Every page starts here: the sidebar and the data to show, or the guide (and stop).

    Pages draw the sidebar themselves rather than the entry script, so the selectors are part of
    the page run (which is also what Streamlit's AppTest keeps across reruns).
    """
    prepared = prepare(config_path_from_args(main_args()))
    if isinstance(prepared, View):
        return prepared
    show_guide(prepared)
    st.stop()
    raise AssertionError("unreachable")


def require_ratings(view: View) -> data.Board:
    """The ratings of the chosen category, or a message (and stop) when there are none."""
    ratings = view.ratings
    if ratings.ok:
        return ratings
    if ratings.status == "too_few_battles":
        st.warning(f"Category **{view.category_label}** has only {ratings.n_battles} battles (a board needs "
                   f"{ratings.min_battles}): too few for ratings. Pick another category, or judge more "
                   "questions in it.")
    else:
        st.warning(f"The latest snapshot has no ratings for **{view.category_label}**.")
    st.stop()
    raise AssertionError("unreachable")


def show_warnings(ratings: data.Board) -> None:
    """Incomparable groups and flagged ratings, above any number a reader might compare."""
    for text in data.warnings_for(ratings):
        st.warning(text)


def main_args() -> list[str]:
    return sys.argv[1:]
