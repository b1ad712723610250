"""History: each model's rating over the stored snapshots (the nightly runs)."""

import streamlit as st

from arena.dashboard import charts, common

view = common.page_view()
st.title("History")
ratings = common.require_ratings(view)
frame = common.history(view.url, view.version, view.snapshot.source, view.category)
snapshots = frame["snapshot"].nunique()
st.caption(f"{view.category_label} · {snapshots} snapshot(s) of battles from {view.snapshot.source}; "
           "bands are 95% intervals")
if snapshots < 2:
    st.info("Only one snapshot so far: the history grows with each `arena rate` (or nightly run).")
older = common.older_snapshots(view.url, view.version, view.snapshot.source, view.snapshot.judge_key)
if older:
    st.caption(f"{older} older snapshot(s) made by an earlier rating method (battle-level bootstrap, "
               "length control) are not shown: their numbers are not comparable with these.")
st.plotly_chart(charts.history_plot(frame, ratings.models), key="history_plot")
with st.expander("As a table"):
    st.dataframe(frame, hide_index=True, key="history_table")
