"""Judge diagnostics: position and length bias, order disagreement, invalid verdicts."""

import streamlit as st

from arena import dashboard_data as data
from dashboards import charts, common

view = common.page_view()
st.title("Judge diagnostics")
st.caption(f"Judge {view.snapshot.judge or 'n/a'} · rubric {view.snapshot.rubric or 'n/a'} · "
           f"snapshot #{view.snapshot.id} (all categories)")

for column, (label, value, meaning) in zip(st.columns(4), data.diagnostics_rows(view.snapshot.report)):
    column.metric(label, value, help=meaning)

st.subheader("Length against winning")
table = common.length_table(view.url, view.version, view.selection)
if table.empty:
    st.info("No battles with answer lengths to plot.")
else:
    st.caption(f"{view.category_label} · {int(table['battles'].sum())} battles with answers of unequal length")
    st.plotly_chart(charts.length_plot(table), key="length_plot")

st.subheader("Invalid verdicts")
total, invalid = common.invalid(view.url, view.version, view.snapshot.judge_key)
if total == 0:
    st.success("Every judgment has a valid verdict.")
else:
    st.caption(f"{total} judgments without a usable verdict; the newest {len(invalid)}:")
    st.dataframe(invalid, hide_index=True, key="invalid_table")
