"""Question explorer: find battles, then read both answers and the judge's reasoning."""

import streamlit as st

from arena.dashboard import common, data
from arena.safe_text import markdown_text

PAGE_SIZE = 200
ANY = "any"

view = common.page_view()
st.title("Question explorer")
models = sorted(view.snapshot.report.board.models)

left, middle, right = st.columns(3)
model = left.selectbox("Model", [ANY, *models], key="explorer_model")
opponent = middle.selectbox("Opponent", [ANY, *[m for m in models if m != model]], key="explorer_opponent")
outcomes = [o for o in data.OUTCOMES if model != ANY or o not in ("model won", "model lost")]
outcome = right.selectbox("Outcome", outcomes, key="explorer_outcome",
                          format_func=lambda o: o.replace("model", model) if model != ANY else o)
text = st.text_input("Question text contains", key="explorer_text")

flt = data.BattleFilter(
    selection=view.selection, model=None if model == ANY else model, opponent=None if opponent == ANY else opponent,
    outcome=outcome, text=text, limit=PAGE_SIZE,
)
found, total = common.search(view.url, view.version, flt)
st.caption(f"{total} battles match in {view.category_label}; showing the newest {min(total, PAGE_SIZE)}. "
           f"Only the battles snapshot #{view.snapshot.id} rated are listed.")
if found.empty:
    st.info("No battle matches these filters.")
    st.stop()
st.dataframe(found.drop(columns=["valid_ab", "valid_ba"]), hide_index=True, key="explorer_results")


def label(battle_id: int) -> str:
    row = found[found["battle"] == battle_id].iloc[0]
    return f"#{battle_id} · {row['model_a']} vs {row['model_b']} · {row['winner']} · {row['question'][:80]}"


battle_id = st.selectbox("Read a battle", list(found["battle"]), format_func=label, key="explorer_battle")
detail = common.detail(view.url, view.version, int(battle_id))
if detail is None:
    st.warning(f"Battle #{battle_id} is no longer in the store.")
    st.stop()

st.subheader(f"Question {markdown_text(detail.question_id or '')}")
st.caption(f"{markdown_text(detail.category or 'no category')} · winner: **{markdown_text(data.winner_name(detail))}**"
           f" ({detail.winner}) · judge {markdown_text(detail.judge or 'n/a')}")
st.markdown(markdown_text(detail.question, keep_lines=True))
if detail.reference:
    with st.expander("Reference answer (the judge read it unless the project turns reference answers off)"):
        st.text(detail.reference)

for column, answer, name in zip(st.columns(2), (detail.answer_a, detail.answer_b),
                                (detail.model_a, detail.model_b), strict=False):
    with column:
        st.markdown(f"#### {markdown_text(name)}")
        if answer is None:
            st.caption("The answer text is not in the store (imported battle).")
            continue
        if answer.truncated:
            st.warning("Truncated: the answer hit max_tokens.")
        st.text(answer.text)

if not detail.judgments:
    st.caption("No judgments stored for this battle.")
for judgment in detail.judgments:
    st.markdown(f"#### Judge, {markdown_text(judgment.order)}")
    st.caption(f"Response A = {markdown_text(judgment.shown_a)}, Response B = {markdown_text(judgment.shown_b)}")
    if not judgment.valid:
        st.error(f"Invalid verdict after {judgment.attempts} attempt(s): no parsable [RESULT].")
    else:
        chance = f" · P(A) = {judgment.p_a:.2f}" if judgment.p_a is not None else ""
        st.markdown(f"Verdict **{markdown_text(judgment.verdict)}** → prefers **{markdown_text(judgment.preferred)}**"
                    f" · {judgment.attempts} attempt(s){chance}")
    if judgment.truncated:
        st.warning("Truncated: the judge's output hit max_tokens.")
    st.text(judgment.feedback or "(no feedback)")
    with st.expander("Raw judge output"):
        st.text(judgment.raw_output)
