"""Pairwise heatmaps (win rates observed or predicted, battles, P(rated above)) and a head to head."""

from dataclasses import replace

import streamlit as st

from arena.dashboard import charts, common, data
from arena.safe_text import markdown_text

view = common.page_view()
st.title("Heatmaps")
ratings = common.require_ratings(view)
pairs = common.matrices(view.url, view.version, view.snapshot.source, view.category)
st.caption(f"{view.category_label} · {pairs.n_battles} battles of snapshot #{view.snapshot.id} · models ordered "
           "by rating · row model against column model")
common.show_warnings(ratings)

predicted = st.toggle("Win probability predicted by the fit (instead of observed)", key="predicted")
matrix = pairs.predicted if predicted else pairs.observed
title = "Predicted win probability" if predicted else "Observed win rate (ties count half)"
st.plotly_chart(charts.heatmap(matrix, title, ".0%", "RdBu", zrange=(0.0, 1.0), hover_label="win rate"),
                key="winrate_heatmap")
st.plotly_chart(charts.heatmap(pairs.counts, "Battles per pair", ".0f", "Blues", hover_label="battles"),
                key="count_heatmap")
if pairs.prob_above is not None:
    st.plotly_chart(charts.heatmap(pairs.prob_above, "P(row rated above column) in the bootstrap", ".0%", "RdBu",
                                   zrange=(0.0, 1.0), hover_label="P(rated above)"), key="above_heatmap")

st.subheader("Head to head")
left, right = st.columns(2)
model_a = left.selectbox("Model A", pairs.order, index=0, key="compare_a")
others = [m for m in pairs.order if m != model_a]
model_b = right.selectbox("Model B", others, index=0, key="compare_b")
comparison = data.compare_models(view.snapshot, ratings, model_a, model_b)
shown = replace(comparison, model_a=markdown_text(comparison.model_a), model_b=markdown_text(comparison.model_b),
                view=markdown_text(comparison.view) if comparison.view else None)  # names from outside, literally
for line in shown.lines():
    st.markdown(line.strip())
