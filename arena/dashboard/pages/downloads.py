"""Downloads: the leaderboard as CSV, the battles as CSV or JSON."""

import streamlit as st

from arena.dashboard import common, data

view = common.page_view()
st.title("Downloads")
source, judge_key = view.snapshot.source, view.snapshot.judge_key
slug = (view.category or "all").replace(":", "-").replace("/", "-").replace(" ", "_")

ratings = view.ratings
if ratings.ok:
    frame = data.leaderboard_frame(ratings, view.config)
    st.download_button("Leaderboard (CSV)", data.leaderboard_csv(frame),
                       file_name=f"leaderboard-{slug}-snapshot{view.snapshot.id}.csv", mime="text/csv",
                       key="download_leaderboard")
else:
    st.caption(f"No leaderboard for {view.category_label} ({ratings.status}).")


opened = common.store(view.url)


def battles_file(fmt: str):  # the file is made only when the button is pressed, in another thread
    def make() -> bytes:
        return data.battles_download(opened, view.selection, fmt)
    return make


st.caption(f"Battles of {view.category_label} from {source}"
           + (f", judge key {judge_key}" if judge_key else "")
           + f": the battles snapshot #{view.snapshot.id} rated, one row per battle, in the format of "
           "`arena battles export`.")
left, right = st.columns(2)
left.download_button("Battles (CSV)", battles_file("csv"), file_name=f"battles-{source}-{slug}.csv",
                     mime="text/csv", key="download_battles_csv")
right.download_button("Battles (JSON)", battles_file("json"), file_name=f"battles-{source}-{slug}.json",
                      mime="application/json", key="download_battles_json")
