"""Leaderboard: who leads, by how much, and how sure we are."""

import streamlit as st

from arena import dashboard_data as data
from dashboards import charts, common

view = common.page_view()
st.title("Leaderboard")
st.caption(f"{view.category_label} · ratings from snapshot #{view.snapshot.id}, "
           f"{view.snapshot.payload.get('bootstrap_rounds', 0)} bootstrap rounds")
ratings = common.require_ratings(view)
st.markdown(data.headline(ratings))

frame = data.leaderboard_frame(ratings, view.config)
number = st.column_config.NumberColumn
st.dataframe(
    frame, hide_index=True, key="leaderboard",
    column_config={
        "Rank": number(help="1 + the number of models whose 95% CI lies entirely above this one's"),
        "Rank (CI)": st.column_config.TextColumn(help="Best to worst rank the 95% intervals allow"),
        "Rating": number(format="%.1f", help="Bradley-Terry rating, Elo scale"),
        "CI low": number(format="%.1f", help="95% bootstrap interval"),
        "CI high": number(format="%.1f"),
        "Win rate": number(format="percent", help="Average share of battles won, ties as half"),
        "Rating (LC)": number(format="%.1f", help="Length-controlled rating: as if answers had equal length"),
        "LC CI low": number(format="%.1f"),
        "LC CI high": number(format="%.1f"),
    },
)

length = view.snapshot.payload.get("length_control") or {}
if length.get("coefficient") is not None:
    low, high = (length.get("coefficient_ci") or [None, None])[:2]
    interval = f" (95% CI {low:+.3f} to {high:+.3f})" if low is not None and high is not None else ""
    st.caption(f"Length control: coefficient {length['coefficient']:+.3f}{interval}. {length.get('note', '')}")

with_lc = st.toggle("Show length-controlled ratings in the plot", value=True, key="forest_lc")
st.plotly_chart(charts.forest_plot(frame, with_lc), key="forest")
