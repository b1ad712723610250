"""The arena dashboard's entry script: `arena dashboard -c arena.yaml` runs it with Streamlit
(`streamlit run <this file> -- --config arena.yaml` does the same; so does ARENA_CONFIG=arena.yaml).

This script only lays out the pages. Each page opens the project read-only, picks the newest
ratings snapshot and draws the sidebar (battle source, category) through
`arena.dashboard.common.page_view`; without a project, store or snapshot it shows which commands
to run first.
"""

from __future__ import annotations

import streamlit as st

from arena.dashboard import PAGES

st.set_page_config(page_title="Medical LLM Arena", page_icon=":material/medical_services:", layout="wide")

st.navigation([
    st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
    st.Page(PAGES / "heatmaps.py", title="Heatmaps", icon=":material/grid_on:"),
    st.Page(PAGES / "explorer.py", title="Question explorer", icon=":material/search:"),
    st.Page(PAGES / "judge.py", title="Judge diagnostics", icon=":material/balance:"),
    st.Page(PAGES / "history.py", title="History", icon=":material/timeline:"),
    st.Page(PAGES / "downloads.py", title="Downloads", icon=":material/download:"),
]).run()
