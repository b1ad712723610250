"""Pairwise heatmaps: win rates (observed or predicted by the fit) and battle counts."""

import streamlit as st

from dashboards import charts, common

view = common.page_view()
st.title("Heatmaps")
ratings = common.require_ratings(view)
pairs = common.matrices(view.url, view.version, view.snapshot.source, view.category)
st.caption(f"{view.category_label} · models ordered by rating · row model against column model")
if pairs.note:
    st.caption(pairs.note)

predicted = st.toggle("Win probability predicted by the fit (instead of observed)", key="predicted")
matrix = pairs.predicted if predicted else pairs.observed
title = "Predicted win probability" if predicted else "Observed win rate (ties count half)"
st.plotly_chart(charts.heatmap(matrix, title, ".0%", "RdBu", zrange=(0.0, 1.0), hover_label="win rate"),
                key="winrate_heatmap")
st.plotly_chart(charts.heatmap(pairs.counts, "Battles per pair", ".0f", "Blues", hover_label="battles"),
                key="count_heatmap")
