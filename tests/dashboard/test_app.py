"""Every page of the dashboard through Streamlit's AppTest.

On a project made by the real pipeline the numbers shown must be those `arena rate` printed;
on the hand-built synthetic store the category selector, the explorer's flags and the cache
invalidation are checked; without a project, store or snapshot every page shows the guide.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from arena.dashboard.data import newest_snapshot
from arena.store.engine import open_store
from arena.store.schema import battles
from tests.dashboard.conftest import APP, PipelineProject
from tests.dashboard.synthetic import REFERENCE, Synthetic, make_store, minimal_project, rate_store

PAGES = ("leaderboard", "heatmaps", "explorer", "judge", "history", "downloads")
TITLES = {"leaderboard": "Leaderboard", "heatmaps": "Heatmaps", "explorer": "Question explorer",
          "judge": "Judge diagnostics", "history": "History", "downloads": "Downloads"}


def open_app(config_path: Path, monkeypatch: pytest.MonkeyPatch, page: str = "leaderboard") -> AppTest:
    monkeypatch.setenv("ARENA_CONFIG", str(config_path))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page != "leaderboard":
        at.switch_page(f"pages/{page}.py")
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decode(array: Any) -> np.ndarray:
    """Plotly's JSON arrays: plain lists, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(array, dict) and "bdata" in array:
        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        shape = [int(n) for n in str(array.get("shape", len(values))).split(",")]
        return values.reshape(shape)
    return np.asarray(array, dtype=float)


def chart_by_key(at: AppTest, key: str) -> dict[str, Any]:
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(key) or key in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {key!r}; ids: {[c.proto.id for c in at.get('plotly_chart')]}")


def pairwise_matrices(rated: dict[str, Any], order: list[str]) -> dict[str, np.ndarray]:
    """The observed win rates, battle counts and predicted win probabilities `arena rate` printed."""
    pairwise = rated["pairwise"]
    position = [pairwise["models"].index(m) for m in order]
    wins = np.array(pairwise["wins"], dtype=float)[np.ix_(position, position)]
    ties = np.array(pairwise["ties"], dtype=float)[np.ix_(position, position)]
    battles = wins + wins.T + ties
    with np.errstate(invalid="ignore"):
        observed = (wins + 0.5 * ties) / battles
    rating = {r["model"]: r["rating"] for r in rated["leaderboard"]}
    predicted = np.array([[1 / (1 + 10 ** ((rating[c] - rating[r]) / 400)) for c in order] for r in order])
    for table in (observed, battles, predicted):
        np.fill_diagonal(table, np.nan)
    return {"observed": observed, "counts": battles, "predicted": predicted}


# --- nothing to show yet --------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_missing_project_shows_the_guide_on_every_page(page: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(tmp_path / "arena.yaml", monkeypatch, page)
    text = at.info[0].value
    assert "project file not found" in text
    assert "arena generate" in text and "arena judge" in text and "arena rate" in text
    assert not at.title  # no page content below the guide


def test_missing_store_and_empty_store_show_the_next_commands(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = minimal_project(tmp_path)
    assert "no store" in open_app(config, monkeypatch).info[0].value
    assert not (tmp_path / "arena.db").exists()
    open_store(f"sqlite:///{tmp_path / 'arena.db'}").close()
    text = open_app(config, monkeypatch, "heatmaps").info[0].value
    assert "0 answers, 0 judgments and 0 battles" in text and f"arena generate -c {config}" in text


# --- a project made by the real pipeline ----------------------------------------------------


def test_leaderboard_shows_what_arena_rate_printed(pipeline_project: PipelineProject,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(pipeline_project.config_path, monkeypatch)
    rows = pipeline_project.rated["leaderboard"]
    table = at.dataframe[0].value
    assert list(table["Model"]) == [r["model"] for r in rows]
    for column, key in [("Rank", "rank"), ("Rating", "rating"), ("CI low", "ci_low"), ("CI high", "ci_high"),
                        ("Battles", "battles"), ("Win rate", "win_rate"), ("Rating (SC)", "rating_sc"),
                        ("SC CI low", "ci_low_sc"), ("SC CI high", "ci_high_sc")]:
        assert list(table[column]) == [r[key] for r in rows], column
    assert list(table["Rank (CI)"]) == [
        str(r["rank_ci_low"]) if r["rank_ci_low"] == r["rank_ci_high"] else f"{r['rank_ci_low']}–{r['rank_ci_high']}"
        for r in rows]
    assert set(table["Backend"]) == {"transformers"} and set(table["Parameters"]) == {"tiny"}
    assert at.markdown[0].value.startswith(f"**{rows[0]['model']}** leads with {rows[0]['rating']:.0f}")
    forest = chart_by_key(at, "forest")
    by_model = dict(zip(forest["data"][0]["y"], decode(forest["data"][0]["x"]), strict=False))
    assert by_model == pytest.approx({r["model"]: r["rating"] for r in rows})
    assert len(forest["data"]) == 2  # with the style-controlled ratings
    assert "question-level" in at.caption[0].value
    at.toggle(key="forest_sc").set_value(False)
    assert len(chart_by_key(run(at), "forest")["data"]) == 1


def test_leaderboard_shows_the_style_coefficients_arena_rate_printed(pipeline_project: PipelineProject,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    style = pipeline_project.rated["style_control"]
    assert style["status"] == "ok" and style["coefficients"]
    at = open_app(pipeline_project.config_path, monkeypatch)
    table = next(frame.value for frame in at.dataframe if "Covariate" in frame.value.columns)
    assert list(table["Covariate"]) == [c["covariate"] for c in style["coefficients"]]
    for column, key in [("Log-odds per SD", "coefficient"), ("CI low", "ci_low"), ("CI high", "ci_high"),
                        ("Elo per SD", "elo"), ("SD of difference", "sd")]:
        assert list(table[column]) == pytest.approx([c[key] for c in style["coefficients"]]), column
    assert any(style["note"] in caption.value for caption in at.caption)


def test_leaderboard_shows_what_the_board_cost(pipeline_project: PipelineProject,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(pipeline_project.config_path, monkeypatch)
    frames = [frame.value for frame in at.dataframe]
    models = next(f for f in frames if "Answers" in f.columns)
    judges = next(f for f in frames if "Judgments" in f.columns)
    lines = {(line["kind"], line["name"]): line for line in pipeline_project.rated["cost"]["lines"]}
    assert sorted(models["Model"]) == sorted(pipeline_project.models)
    for record in models.to_dict("records"):
        line = lines[("model", record["Model"])]
        assert (record["Answers"], record["Prompt tokens"], record["Completion tokens"]) == (
            line["items"], line["prompt_tokens"], line["completion_tokens"])
        assert record["GPU-hours"] == 0.0  # transformers on the CPU holds no GPU
    (judge,) = judges.to_dict("records")
    line = lines[("judge", judge["Judge"])]
    assert judge["Judgments"] == line["items"] and judge["Prompt tokens"] == line["prompt_tokens"]
    assert judge["Tokens / 1k judgments"] == pytest.approx(line["per_1000_judgments"]["tokens"])
    assert any(m.value.startswith("**Total:**") for m in at.markdown)


def test_a_store_without_runs_says_so_under_the_leaderboard(synthetic: Synthetic,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch)
    assert any("No generate or judge run recorded yet" in c.value for c in at.caption)


def test_heatmaps_show_the_snapshot_matrices(pipeline_project: PipelineProject,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rated = pipeline_project.rated
    order = [r["model"] for r in rated["leaderboard"]]
    at = open_app(pipeline_project.config_path, monkeypatch, "heatmaps")
    expected = pairwise_matrices(rated, order)
    observed = chart_by_key(at, "winrate_heatmap")["data"][0]
    assert observed["y"] == order == observed["x"]
    np.testing.assert_allclose(decode(observed["z"]), expected["observed"])
    counts = chart_by_key(at, "count_heatmap")["data"][0]
    np.testing.assert_allclose(decode(counts["z"]), expected["counts"])
    assert "%{z:.0%}" in observed["hovertemplate"] and "%{y} vs %{x}" in observed["hovertemplate"]
    above = decode(chart_by_key(at, "above_heatmap")["data"][0]["z"])
    position = [rated["pairwise"]["models"].index(m) for m in order]
    stored = np.array(rated["pairwise"]["prob_above"], dtype=float)[np.ix_(position, position)]
    np.testing.assert_allclose(above, stored)
    at.toggle(key="predicted").set_value(True)
    predicted = chart_by_key(run(at), "winrate_heatmap")["data"][0]
    np.testing.assert_allclose(decode(predicted["z"]), expected["predicted"])


def test_heatmap_page_compares_two_models_as_rate_compare_does(pipeline_project: PipelineProject,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.cli import app as cli_app

    rated = pipeline_project.rated
    first, last = rated["leaderboard"][0]["model"], rated["leaderboard"][-1]["model"]
    at = open_app(pipeline_project.config_path, monkeypatch, "heatmaps")
    at.selectbox(key="compare_a").select(first)
    at.selectbox(key="compare_b").select(last)
    shown = " ".join(m.value for m in run(at).markdown)
    result = CliRunner().invoke(cli_app, ["rate", "-c", str(pipeline_project.config_path), "--bootstrap", "200",
                                          "--compare", first, last, "--format", "json"])
    duel = json.loads(result.stdout)["comparison"]
    assert f"P({first} rated above {last}) = {duel['prob_a_above']:.3f}" in shown
    assert f"{first} won {duel['wins_a']}, {last} won {duel['wins_b']}, {duel['ties']} tie(s)" in shown


def test_judge_history_and_downloads_pages(pipeline_project: PipelineProject,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rated = pipeline_project.rated
    diagnostics = rated["diagnostics"]
    at = open_app(pipeline_project.config_path, monkeypatch, "judge")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["First-position win share"] == f"{100 * diagnostics['first_position_share']:.1f}%"
    assert metrics["Invalid verdicts"] == f"{diagnostics['invalid_verdicts']} of {diagnostics['judgments']}"
    assert diagnostics["invalid_verdicts"] > 0
    assert at.dataframe[0].value["raw_output"].str.contains("cannot decide").all()
    assert chart_by_key(at, "length_plot")["data"][0]["mode"] == "lines+markers"

    at.switch_page("pages/history.py")
    history = chart_by_key(run(at), "history_plot")
    lines = {trace["name"]: decode(trace["y"]) for trace in history["data"] if trace.get("name")}
    assert {m: list(v) for m, v in lines.items()} == {r["model"]: [pytest.approx(r["rating"])]
                                                       for r in rated["leaderboard"]}

    at.switch_page("pages/downloads.py")
    labels = [button.proto.label for button in run(at).get("download_button")]
    assert labels == ["Leaderboard (CSV)", "Battles (CSV)", "Battles (JSON)"]


def test_explorer_shows_both_answers_and_both_judgments(pipeline_project: PipelineProject,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(pipeline_project.config_path, monkeypatch, "explorer")
    assert at.caption[0].value.startswith(f"{pipeline_project.rated['n_battles']} battles match")
    at.selectbox(key="explorer_outcome").select("order disagreement")
    run(at)
    found = at.dataframe[0].value
    assert len(found) == 3 and (found["verdict_ab"] == "A").all() and (found["verdict_ba"] == "A").all()
    assert found["winner"].str.startswith("tie").all()
    markdown = " ".join(m.value for m in at.markdown)
    assert "Verdict **A**" in markdown
    headers = [m.value for m in at.markdown if m.value.startswith("#### ")]
    battle = found.iloc[0]
    assert headers[:2] == [f"#### {battle['model_a']}", f"#### {battle['model_b']}"]
    assert headers[2:] == [f"#### Judge, {battle['model_a']} shown first", f"#### Judge, {battle['model_b']} shown first"]
    texts = [t.value for t in at.text]
    assert "Response A comes first, so it is better." in texts

    at.selectbox(key="explorer_model").select("llama-short")
    at.selectbox(key="explorer_outcome").select("truncated")
    run(at)
    assert len(at.dataframe[0].value) > 0  # llama-short stops after 8 tokens
    assert any("Truncated: the answer hit max_tokens." == w.value for w in at.warning)

    at.selectbox(key="explorer_outcome").select("any")
    at.text_input(key="explorer_text").input("zzzz no such words")
    assert "No battle matches" in run(at).info[0].value


# --- the synthetic store: categories, flags, caching ---------------------------------------


@pytest.fixture()
def synthetic(tmp_path: Path) -> Synthetic:
    return make_store(tmp_path / "synthetic")


def test_category_selector_switches_every_page(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch)
    store = open_store(synthetic.url)
    snapshot_rows = newest_snapshot(store, "judge").report.view("cardiology").rows
    store.close()
    assert at.selectbox(key="category").options == ["All questions", "cardiology", "dermatology", "nutrition",
                                                   "audience:clinician", "audience:patient", "safety-critical"]
    at.selectbox(key="category").select("cardiology")
    table = run(at).dataframe[0].value
    assert list(table["Rating"]) == [r.rating for r in snapshot_rows]
    assert list(table["Battles"]) == [r.battles for r in snapshot_rows]
    at.switch_page("pages/heatmaps.py")
    run(at)
    assert at.selectbox(key="category").value == "cardiology"  # the choice follows the user
    counts = chart_by_key(at, "count_heatmap")["data"][0]
    assert np.nansum(decode(counts["z"])) == 2 * 30  # each of the 30 cardiology battles, both ways
    assert "30 battles of snapshot #1" in " ".join(c.value for c in at.caption)
    at.selectbox(key="category").select("safety-critical")
    assert np.nansum(decode(chart_by_key(run(at), "count_heatmap")["data"][0]["z"])) == 2 * 15
    at.selectbox(key="category").select("dermatology")
    run(at)
    assert "too few for ratings" in at.warning[0].value and not at.get("plotly_chart")
    for page in ("leaderboard", "history"):
        at.switch_page(f"pages/{page}.py")
        assert "too few for ratings" in run(at).warning[0].value
    at.switch_page("pages/explorer.py")
    assert run(at).caption[0].value.startswith("3 battles match in dermatology")


def test_explorer_flags_invalid_verdicts(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch, "explorer")
    at.selectbox(key="explorer_outcome").select("invalid verdict")
    run(at)
    assert len(at.dataframe[0].value) == 1
    assert at.error[0].value.startswith("Invalid verdict after 3 attempt(s)")


def test_explorer_shows_the_questions_reference_answer(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch, "explorer")
    at.text_input(key="explorer_text").input("Question 1 about")
    run(at)
    assert [e.label for e in at.expander][0].startswith("Reference answer")
    assert REFERENCE in [t.value for t in at.text]
    at.text_input(key="explorer_text").input("Question 2 about")
    run(at)
    assert not any(e.label.startswith("Reference answer") for e in at.expander)


def test_a_new_snapshot_shows_without_restarting(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch)
    assert "snapshot #1" in at.caption[0].value
    before = at.dataframe[0].value
    store = open_store(synthetic.url)
    with store.transaction() as connection:  # gamma wins five more battles, then `arena rate` again
        row = connection.execute(select(battles).where(battles.c.model_b == "gamma").limit(1)).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        for n in range(5):
            connection.execute(battles.insert().values(**{**values, "dedup_key": f"more-{n}", "winner": "model_b"}))
    rate_store(store)
    store.close()
    after = run(at).dataframe[0].value
    assert "snapshot #2" in at.caption[0].value
    assert after.set_index("Model").loc["gamma", "Battles"] == before.set_index("Model").loc["gamma", "Battles"] + 5


# --- judge validation -----------------------------------------------------------------------


def _validate_into(url: str, root: Path) -> Any:
    import json as json_module

    from arena.backends.scripted import ScriptedBackend
    from arena.judge.validate import run_validate
    from tests.fakes.scripted_server import prefer_longer_answer_script
    from tests.judge.helpers import make_project, scripted_judge

    data_file = root / "labelled.jsonl"
    rows = [{"instruction": f"Question {n}?", "response_a": "Short.", "response_b": "A longer, kinder answer.",
             "label": "B" if n % 3 else "A", "category": "c1" if n % 2 else "c2"} for n in range(6)]
    data_file.write_text("".join(json_module.dumps(r) + "\n" for r in rows), encoding="utf-8")
    project = make_project(root / "judge-project", scripted_judge("http://127.0.0.1:9/v1"), extra={"storage": url})
    return run_validate(project.config(), data_file, progress=False, bootstrap_rounds=100,
                        backend=ScriptedBackend(prefer_longer_answer_script))


def test_the_judge_page_shows_the_validation_report(synthetic: Synthetic, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(synthetic.config_path, monkeypatch, "judge")
    assert any("has not been validated yet" in c.value for c in at.caption)
    summary = _validate_into(synthetic.url, synthetic.config_path.parent)
    run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Agreement"] == "66.7%" == f"{100 * summary.report.overall.agreement.value:.1f}%"
    assert metrics["Consistency"] == "100.0%" and metrics["First pos."] == "50.0%"
    table = at.dataframe[-1].value
    assert list(table["group"]) == ["all", "c1", "c2"] and list(table["pairs"]) == [6, 3, 3]
    assert table["agreement"].iloc[0] == summary.report.overall.agreement.text()
    assert "labelled" in at.selectbox(key="validation_run").options[0]


def test_validation_shows_before_any_ratings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    config = minimal_project(tmp_path, storage=url)
    _validate_into(url, tmp_path)
    at = open_app(config, monkeypatch, "judge")
    assert "but no ratings yet" in at.info[0].value
    assert at.title[0].value == "Judge diagnostics" and {m.label for m in at.metric} >= {"Agreement", "Invalid"}


# --- a jury ------------------------------------------------------------------------------------


def test_a_jurys_ratings_side_by_side_and_the_agreement_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.cli import app
    from tests.judge.helpers import jury_project

    runner = CliRunner()
    with jury_project(tmp_path) as (project, _):
        assert runner.invoke(app, ["judge", "-c", str(project.config_path)]).exit_code == 0
        rated = runner.invoke(app, ["rate", "-c", str(project.config_path), "--format", "json", "--bootstrap", "20"])
        assert rated.exit_code == 0, rated.output
    report = json.loads(rated.stdout)
    at = open_app(project.config_path, monkeypatch)
    tables = {tuple(frame.value.columns): frame.value for frame in at.dataframe}
    side = next(t for columns, t in tables.items() if columns[:2] == ("Model", "Jury"))
    assert list(side.columns) == ["Model", "Jury", "Jury CI", "j1", "j1 CI", "j2", "j2 CI", "j3", "j3 CI"]
    assert list(side["Model"]) == [r["model"] for r in report["leaderboard"]]
    assert list(side["Jury"]) == pytest.approx([r["rating"] for r in report["leaderboard"]])
    for judge in report["judges"]:
        own = {r["model"]: r["rating"] for r in judge["board"]["leaderboard"]}
        assert list(side[judge["judge"]]) == pytest.approx([own[m] for m in side["Model"]])
    agreement = next(t for columns, t in tables.items() if columns[0] == "Judges")
    expected = {f"{p['judge_a']} ~ {p['judge_b']}": (p["n"], p["kappa"]) for p in report["agreement"]["pairs"]}
    assert {row["Judges"]: (row["Shared battles"], pytest.approx(row["Cohen's kappa"]))
            for _, row in agreement.iterrows()} == expected
    assert any("Krippendorff's alpha (nominal) of the jury: "
               f"{report['agreement']['alpha']:.3f} on 6 battles" in c.value for c in at.caption)

    judge_page = open_app(project.config_path, monkeypatch, "judge")
    diagnostics = judge_page.dataframe[0].value
    assert list(diagnostics["Judge"]) == ["j1", "j2", "j3"] and list(diagnostics["Battles"]) == [6, 6, 6]
    assert sum("every judgment has a valid verdict" in s.value for s in judge_page.success) == 3
