"""Judge diagnostics: position and length bias, order disagreement, invalid verdicts, and the
judge's agreement with human labels (`arena judge validate`), which shows even before ratings."""

import streamlit as st

from arena.dashboard import charts, common, data
from arena.safe_text import markdown_text

config_path = common.config_path_from_args(common.main_args())
prepared = common.prepare(config_path)
store = common.opened_store(config_path)
version = data.validation_version(store) if store is not None else (0, 0)
runs = common.validation_runs(store.url, version) if store is not None else None
validated = runs is not None and not runs.empty

if not isinstance(prepared, common.View):
    common.show_guide(prepared)
    if not validated:
        st.stop()
    st.title("Judge diagnostics")
else:
    view = prepared
    st.title("Judge diagnostics")
    st.caption(f"Judge {markdown_text(view.snapshot.judge or 'n/a')} · rubric {markdown_text(view.snapshot.rubric or 'n/a')} · "
               f"snapshot #{view.snapshot.id} (all categories)")

    jury = view.snapshot.report.judges
    if jury:
        st.caption("A jury: each judge's diagnostics on its own battles; their agreement is on the leaderboard.")
        st.dataframe(data.jury_diagnostics_frame(view.snapshot.report), hide_index=True, key="jury_diagnostics")
    else:
        for column, (label, value, meaning) in zip(st.columns(4), data.diagnostics_rows(view.snapshot.report),
                                                   strict=False):
            column.metric(label, value, help=meaning)

    st.subheader("Length against winning")
    table = common.length_table(view.url, view.version, view.selection)
    if table.empty:
        st.info("No battles with answer lengths to plot.")
    else:
        st.caption(f"{view.category_label} · {int(table['battles'].sum())} battles with answers of unequal length")
        st.plotly_chart(charts.length_plot(table), key="length_plot")

    st.subheader("Invalid verdicts")
    keys: list[tuple[str | None, str | None]] = [(j.judge, j.judge_key) for j in jury] or [
        (None, view.snapshot.judge_key)]
    for number, (name, key) in enumerate(keys):
        total, invalid = common.invalid(view.url, view.version, key)
        who = f"Judge {markdown_text(name)}: " if name else ""
        if total == 0:
            st.success(f"{who}every judgment has a valid verdict." if name else "Every judgment has a valid verdict.")
        else:
            st.caption(f"{who}{total} judgments without a usable verdict; the newest {len(invalid)}:")
            st.dataframe(invalid, hide_index=True, key="invalid_table" if number == 0 else f"invalid_table_{number}")

st.subheader("Agreement with human labels")
if not validated:
    st.caption(f"The judge has not been validated yet: `arena judge validate DATASET -c {config_path}` "
               "(labelled pairs in JSONL, or prometheus-eval's hhh_alignment_eval.json).")
    st.stop()
assert store is not None and runs is not None


def run_label(index: int) -> str:
    assert runs is not None
    row = runs.iloc[index]
    return f"{row['dataset']} · judge {row['judge']} (key {row['judge_key']}) · {row['judgments']} judgments"


chosen = st.selectbox("Validation run", list(range(len(runs))), format_func=run_label, key="validation_run")
row = runs.iloc[int(chosen)]
report = common.validation_report(store.url, version, str(row["dataset"]), str(row["judge_key"]))
overall = report.overall
for column, (key, short, meaning) in zip(st.columns(len(data.VALIDATION_METRICS)), data.VALIDATION_METRICS, strict=False):
    column.metric(short.capitalize(), getattr(overall, key).text().split(" [")[0], help=meaning)
st.caption(f"{report.pairs} pairs judged in both orders" + (f", {report.pending} pending" if report.pending else "")
           + f"; {overall.invalid} invalid judgments; 95% bootstrap intervals over pairs "
           f"({report.bootstrap_rounds} rounds). Agreement is the Prometheus 2 paper's pairwise metric.")
st.dataframe(data.validation_frame(report), hide_index=True, key="validation_table")
