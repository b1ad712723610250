"""The arena dashboard: `arena dashboard -c arena.yaml`, or
`streamlit run dashboards/app.py -- --config arena.yaml` (or ARENA_CONFIG=arena.yaml).

This entry script only lays out the pages. Each page opens the project read-only, picks the
newest ratings snapshot and draws the sidebar (battle source, category) through
`dashboards.common.page_view`; without a project, store or snapshot it shows which commands to
run first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboards/ on the path
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="Medical LLM Arena", page_icon=":material/medical_services:", layout="wide")

PAGES = Path(__file__).resolve().parent / "pages"
st.navigation([
    st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
    st.Page(PAGES / "heatmaps.py", title="Heatmaps", icon=":material/grid_on:"),
    st.Page(PAGES / "explorer.py", title="Question explorer", icon=":material/search:"),
    st.Page(PAGES / "judge.py", title="Judge diagnostics", icon=":material/balance:"),
    st.Page(PAGES / "history.py", title="History", icon=":material/timeline:"),
    st.Page(PAGES / "downloads.py", title="Downloads", icon=":material/download:"),
]).run()
