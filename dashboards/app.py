"""The arena dashboard: `arena dashboard -c arena.yaml`, or
`streamlit run dashboards/app.py -- --config arena.yaml`.

This entry script opens the project read-only, picks the newest ratings snapshot, draws the
sidebar (battle source, category) and hands over to the page the user chose. Without a project,
store or snapshot, every page shows which commands to run first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboards/ on the path
    sys.path.insert(0, str(ROOT))

from dashboards import common  # noqa: E402

st.set_page_config(page_title="Medical LLM Arena", page_icon="⚕️", layout="wide")

PAGES = Path(__file__).resolve().parent / "pages"
navigation = st.navigation([
    st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon="🏆", default=True),
    st.Page(PAGES / "heatmaps.py", title="Heatmaps", icon="🟥"),
    st.Page(PAGES / "explorer.py", title="Question explorer", icon="🔎"),
    st.Page(PAGES / "judge.py", title="Judge diagnostics", icon="⚖️"),
    st.Page(PAGES / "history.py", title="History", icon="📈"),
    st.Page(PAGES / "downloads.py", title="Downloads", icon="⬇️"),
])

prepared = common.prepare(common.config_path_from_args(common.main_args()))
st.session_state[common.VIEW_KEY] = prepared if isinstance(prepared, common.View) else None
st.session_state[common.GUIDE_KEY] = None if isinstance(prepared, common.View) else prepared
navigation.run()
