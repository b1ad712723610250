"""Leaderboard: who leads, by how much, how sure we are, at equal answer style, and what it cost."""

import pandas as pd
import streamlit as st

from arena.dashboard import charts, common, data

view = common.page_view()
st.title("Leaderboard")
st.caption(f"{view.category_label} · ratings from snapshot #{view.snapshot.id} · 95% CI: "
           f"{data.ci_caption(view.snapshot)}")
ratings = common.require_ratings(view)
st.markdown(data.headline(ratings))
common.show_warnings(ratings)

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
        "Rating (SC)": number(format="%.1f", help="Style-controlled rating: as if both answers had the same "
                                                  "length and markdown (overall board only)"),
        "SC CI low": number(format="%.1f"),
        "SC CI high": number(format="%.1f"),
        "Flags": st.column_config.TextColumn(help="; ".join(f"{k}: {v}" for k, v in data.FLAG_HELP.items())),
    },
)

style = ratings.style
if style is not None and style.status == "ok":
    st.subheader("Style control")
    st.caption(style.note)
    st.dataframe(pd.DataFrame([{
        "Covariate": c.covariate, "Log-odds per SD": c.coefficient, "CI low": c.ci_low, "CI high": c.ci_high,
        "Elo per SD": c.elo, "SD of difference": c.sd} for c in style.coefficients]),
        hide_index=True, key="style_coefficients")
elif style is not None:
    st.caption(f"Style control: {style.note}")
elif view.category is not None:
    st.caption("Style-controlled ratings are fitted on the board of all questions only.")

with_sc = st.toggle("Show style-controlled ratings in the plot", value=True, key="forest_sc")
st.plotly_chart(charts.forest_plot(frame, with_sc), key="forest")

costs = data.cost_tables(common.store(view.url))
st.subheader("What this board cost")
if costs is None:
    st.caption("No generate or judge run recorded yet (runs are recorded from store schema 5 on).")
else:
    st.caption(costs.basis)
    for key, table in (("cost_models", costs.models), ("cost_judges", costs.judges)):
        if not table.empty:
            st.dataframe(table, hide_index=True, key=key, column_config={
                "GPU-hours": number(format="%.4f"), "USD": number(format="%.4f"),
                "GPU-hours / 1k judgments": number(format="%.4f"), "USD / 1k judgments": number(format="%.4f")})
    st.markdown(f"**Total:** {costs.total}")
    if costs.nightly:
        st.markdown(costs.nightly[0].upper() + costs.nightly[1:])
report = view.snapshot.report
if report.is_jury:
    st.subheader(f"The jury's {len(report.judges)} judges")
    st.caption("The leaderboard above is the jury board (combined verdicts); here each judge's own board of "
               "all questions beside it. Ratings on the Elo scale with 95% CIs.")
    st.dataframe(data.jury_frame(report), hide_index=True, key="jury_ratings",
                 column_config={"Jury": number(format="%.1f"),
                                **{j.judge: number(format="%.1f") for j in report.judges}})
    st.subheader("Agreement between judges")
    st.caption(data.alpha_caption(report))
    st.dataframe(data.agreement_frame(report), hide_index=True, key="agreement",
                 column_config={"Same outcome": number(format="percent"),
                                "Cohen's kappa": number(format="%.3f", help="On the battles both judged; "
                                                        "outcomes: first answer wins, tie, second wins")})
