"""`arena judge validate`: readers, metrics, and scripted judges whose right answers are known.

The HHH alignment file is read from ../shared/validation beside the repository (never copied in);
the tests that need it are skipped with the reason when it is absent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from arena.backends.scripted import ScriptedBackend
from arena.cli import app
from arena.errors import DataError
from arena.judge import current_judge_key
from arena.judge.sanitize import sanitize_answer
from arena.judge.validate import load_report, run_validate
from arena.judge.validation_data import read_dataset
from arena.judge.validation_report import JudgedPair, build_report
from arena.store.engine import open_store
from arena.store.schema import validation_judgments
from tests.fakes.scripted_server import (
    ScriptedServer,
    prefer_longer_answer_script,
    response_sections,
    verdict_script,
)
from tests.judge.helpers import REPO, make_project, scripted_judge

HHH = REPO.parent / "shared" / "validation" / "hhh_alignment_eval.json"
needs_hhh = pytest.mark.skipif(not HHH.is_file(), reason=f"HHH alignment data not found at {HHH}")


def project_for(tmp_path: Path, **judge: object):  # type: ignore[no-untyped-def]
    return make_project(tmp_path / "p", scripted_judge("http://127.0.0.1:9/v1", **judge))


def oracle(pairs):  # type: ignore[no-untyped-def]
    """A judge that knows the human labels: picks the response humans preferred, whichever order
    it is shown in; on a tie it answers A in both orders (a split, which the both-orders rule
    calls a tie). A response can be preferred in one pair and not in another, so the oracle
    knows the pairs, not just the responses."""
    verdicts: dict[tuple[str, str], str] = {}
    for pair in pairs:
        a, b = sanitize_answer(pair.response_a), sanitize_answer(pair.response_b)
        verdicts[(a, b)] = {"A": "A", "B": "B", "tie": "A"}[pair.label]
        verdicts[(b, a)] = {"A": "B", "B": "A", "tie": "A"}[pair.label]

    def script(prompt: str) -> str:
        verdict = verdicts[response_sections(prompt)]
        return f"Response {verdict} is the one a careful reader prefers. [RESULT] {verdict}"
    return script


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SMALL = [
    {"id": "p1", "instruction": "How should a sprain be treated?", "response_a": "Rest, ice, compression, elevation.",
     "response_b": "Run it off.", "label": "A", "category": "injury"},
    {"id": "p2", "instruction": "Is a fever of 39 °C in an adult dangerous?", "response_a": "Always, go to A&E.",
     "response_b": "Usually not; drink fluids, see a doctor if it lasts over 3 days or with red flags.",
     "label": "B", "category": "fever", "reference": "Usually not on its own."},
    {"id": "p3", "instruction": "Tea or coffee for a cold?", "response_a": "Tea.", "response_b": "Coffee.",
     "label": "tie", "category": "fever"},
]


# --- readers ----------------------------------------------------------------------------------

@needs_hhh
def test_the_hhh_file_reads_as_prometheus_eval_prepared_it() -> None:
    dataset = read_dataset(HHH)
    assert (dataset.name, dataset.format, len(dataset.pairs)) == ("hhh_alignment_eval", "hhh", 221)
    counts = {c: sum(p.category == c for p in dataset.pairs) for c in ("harmless", "helpful", "honest", "other")}
    assert counts == {"harmless": 58, "helpful": 59, "honest": 61, "other": 43}
    assert [p.label for p in dataset.pairs[:4]] == ["A", "B", "A", "B"]
    assert len({p.id for p in dataset.pairs}) == len({p.fingerprint for p in dataset.pairs}) == 221
    for pair in dataset.pairs:
        assert pair.rubric.startswith("[") and pair.rubric.endswith("]") and "\n" not in pair.rubric
        assert pair.instruction and "###" not in pair.instruction and pair.response_a != pair.response_b
    first = dataset.pairs[0]
    assert first.instruction.startswith("Can you tell me what kind of knife")
    assert first.response_a.startswith("Sorry, I'm not interested in helping you with that.")
    assert read_dataset(HHH, limit=5).pairs == dataset.pairs[:5]


def test_the_generic_jsonl(tmp_path: Path) -> None:
    rows = [dict(SMALL[0], label="a"), {k: v for k, v in SMALL[2].items() if k != "id"}]
    dataset = read_dataset(write_jsonl(tmp_path / "mine.jsonl", rows))
    assert [p.label for p in dataset.pairs] == ["A", "tie"]
    assert dataset.pairs[0].id == "p1" and len(dataset.pairs[1].id) == 12  # named by its content
    assert dataset.pairs[0].rubric is None and dataset.pairs[0].category == "injury"


@pytest.mark.parametrize("line, problem", [
    ("{not json", ":2: malformed JSON"),
    ("[1]", ":2: expected a JSON object, got list"),
    (json.dumps(dict(SMALL[1], label="C")), ":2: label"),
    (json.dumps(dict(SMALL[1], lable="A")), ":2: lable"),
    (json.dumps({k: v for k, v in SMALL[1].items() if k != "response_b"}), ":2: response_b"),
    (json.dumps(dict(SMALL[1], id="p1")), ":2: duplicate pair id 'p1' (first at"),
])
def test_bad_jsonl_lines_are_one_line_errors_naming_the_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(SMALL[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_dataset(path)
    assert f"{path}{problem}" in str(error.value) and "\n" not in str(error.value)


def test_missing_empty_and_unknown_datasets(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="labelled data not found"):
        read_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n// nothing\n")
    with pytest.raises(DataError, match="no labelled pairs"):
        read_dataset(tmp_path / "empty.jsonl")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DataError, match="pass --format jsonl or hhh"):
        read_dataset(tmp_path / "data.txt")
    (tmp_path / "hhh.json").write_text('[{"source": "x", "chosen_instruction": "no sections", '
                                       '"rejected_instruction": "none"}]')
    with pytest.raises(DataError, match=r"hhh.json \(record 0\): no '###The instruction to evaluate:' section"):
        read_dataset(tmp_path / "hhh.json")


# --- metrics ----------------------------------------------------------------------------------

def test_metrics_by_hand() -> None:
    pairs = [
        JudgedPair("1", "x", "A", "A", "B"),  # right in both orders
        JudgedPair("2", "x", "A", "A", "A"),  # split: one order right
        JudgedPair("3", "y", "B", None, "A"),  # invalid, then right
        JudgedPair("4", "y", "tie", "B", "B"),  # a split on a tie
    ]
    report = build_report("d", "j", "k", pairs, rounds=200, seed=1)
    overall = report.overall
    assert overall.agreement.value == pytest.approx(4 / 6)  # non-tie pairs, per judgment
    assert overall.agreement_split_as_tie.value == pytest.approx(2 / 4)  # pairs 1 and 4
    assert overall.position_consistency.value == pytest.approx(1 / 3)  # of the pairs with two valid
    assert overall.first_position_share.value == pytest.approx(4 / 7)
    assert overall.invalid == 1 and overall.invalid_share.value == pytest.approx(1 / 8)
    assert [g.name for g in report.categories] == ["x", "y"]
    assert report.categories[0].agreement.value == pytest.approx(3 / 4)
    for key in ("agreement", "agreement_split_as_tie", "position_consistency"):
        estimate = getattr(overall, key)
        assert estimate.low <= estimate.value <= estimate.high
    assert build_report("d", "j", "k", pairs, rounds=200, seed=1) == report  # seeded
    empty = build_report("d", "j", "k", [], rounds=10)
    assert empty.overall.agreement.value is None and empty.overall.agreement.text() == "n/a"


# --- scripted judges on HHH -------------------------------------------------------------------

@needs_hhh
def test_an_oracle_judge_scores_100_percent(tmp_path: Path) -> None:
    pairs = read_dataset(HHH).pairs
    summary = run_validate(project_for(tmp_path).config(), HHH, progress=False, bootstrap_rounds=200,
                           backend=ScriptedBackend(oracle(pairs)))
    overall = summary.report.overall
    assert (summary.judgments, summary.model_calls, summary.report.pairs) == (442, 442, 221)
    assert overall.agreement.value == overall.agreement.low == overall.agreement.high == 1.0
    assert overall.agreement_split_as_tie.value == overall.position_consistency.value == 1.0
    assert overall.first_position_share.value == 0.5 and overall.invalid == 0
    assert all(group.agreement.value == 1.0 for group in summary.report.categories)


@needs_hhh
def test_a_judge_that_always_answers_a_has_position_consistency_0(tmp_path: Path) -> None:
    summary = run_validate(project_for(tmp_path).config(), HHH, progress=False, bootstrap_rounds=200,
                           backend=ScriptedBackend(verdict_script("A")))
    overall = summary.report.overall
    assert overall.position_consistency.value == overall.position_consistency.high == 0.0
    assert overall.first_position_share.value == 1.0
    assert overall.agreement.value == 0.5  # each pair: right in one order, wrong in the other
    assert overall.agreement_split_as_tie.value == 0.0  # HHH has no ties: every split disagrees


@needs_hhh
def test_a_judge_preferring_the_longer_response_scores_the_share_where_humans_did_too(tmp_path: Path) -> None:
    pairs = read_dataset(HHH).pairs
    longer = equal = 0
    for pair in pairs:
        chosen, other = (pair.response_a, pair.response_b) if pair.label == "A" else (pair.response_b, pair.response_a)
        longer += len(sanitize_answer(chosen)) > len(sanitize_answer(other))
        equal += len(sanitize_answer(chosen)) == len(sanitize_answer(other))
    summary = run_validate(project_for(tmp_path).config(), HHH, progress=False, bootstrap_rounds=200,
                           backend=ScriptedBackend(prefer_longer_answer_script))
    overall = summary.report.overall
    # on equal lengths the script answers A in both orders: right once of two
    assert equal == 2 and overall.agreement.value == pytest.approx((longer + equal / 2) / len(pairs))
    assert overall.position_consistency.value == pytest.approx(1 - equal / len(pairs))
    by_category = {g.name: g for g in summary.report.categories}
    for category, group in by_category.items():
        members = [p for p in pairs if p.category == category]
        assert group.pairs == len(members)


# --- storage, resuming, seeds -----------------------------------------------------------------

def test_a_rerun_makes_no_model_call_and_a_longer_run_judges_only_the_new_pairs(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "small.jsonl", SMALL)
    project = project_for(tmp_path)
    backend = ScriptedBackend(prefer_longer_answer_script)
    first = run_validate(project.config(), data, limit=2, progress=False, backend=backend)
    assert (first.judgments, first.report.pairs) == (4, 2)
    again = run_validate(project.config(), data, limit=2, progress=False, backend=backend)
    assert (again.model_calls, again.reused, again.constrained) == (0, 4, None)
    full = run_validate(project.config(), data, progress=False, backend=backend)
    assert (full.model_calls, full.reused, full.report.pairs) == (2, 4, 3)
    assert len(backend.prompts) == 6
    # an edited pair is judged again; the others are reused
    edited = [dict(SMALL[0], response_b="Run it off, then rest it."), *SMALL[1:]]
    changed = run_validate(project.config(), write_jsonl(data, edited), progress=False, backend=backend)
    assert (changed.model_calls, changed.reused) == (2, 4)
    store = open_store(project.config().storage_url)
    try:
        report = load_report(store, "small", current_judge_key(project.config()))
    finally:
        store.close()
    assert report.pairs == 3 and report.pending == 0 and report == changed.report


def test_another_file_under_the_same_dataset_name_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_jsonl(tmp_path / "a" / "small.jsonl", SMALL)
    second = write_jsonl(tmp_path / "b" / "small.jsonl", SMALL[:2])
    project = project_for(tmp_path)
    backend = ScriptedBackend(prefer_longer_answer_script)
    run_validate(project.config(), first, progress=False, backend=backend)
    monkeypatch.chdir(tmp_path)
    run_validate(project.config(), Path("a") / "small.jsonl", progress=False, backend=backend)
    assert "note: dataset" not in capsys.readouterr().err  # the same file again, named another way: nothing to say
    summary = run_validate(project.config(), second, progress=False, backend=backend)
    said = capsys.readouterr().err
    assert f"note: dataset 'small' held the pairs of {first.resolve()}; it now holds those of {second.resolve()}" in said
    assert (summary.model_calls, summary.report.pairs) == (0, 2)  # its verdicts were kept
    run_validate(project.config(), first, name="small-a", progress=False, backend=backend)
    assert "note: dataset" not in capsys.readouterr().err


def test_judgments_record_seed_and_finish_reason_and_the_reference_is_shown(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "small.jsonl", SMALL)
    project = project_for(tmp_path, sampling={"seed": 5})
    backend = ScriptedBackend(prefer_longer_answer_script)
    run_validate(project.config(), data, progress=False, backend=backend)
    store = open_store(project.config().storage_url)
    try:
        with store.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(select(validation_judgments))]
    finally:
        store.close()
    assert len(rows) == 6 and all(r["finish_reason"] == "stop" and isinstance(r["seed"], int) for r in rows)
    assert len({r["seed"] for r in rows}) == 6 and {r["position"] for r in rows} == {"ab", "ba"}
    with_reference = [p for p in backend.prompts if "###Reference Answer:\nUsually not on its own." in p]
    assert len(with_reference) == 2
    off = project_for(tmp_path / "off", reference_answers=False)
    quiet = ScriptedBackend(prefer_longer_answer_script)
    run_validate(off.config(), data, progress=False, backend=quiet)
    assert not any("###Reference Answer" in p for p in quiet.prompts)


def test_invalid_outputs_are_retried_then_stored_and_counted(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "small.jsonl", SMALL)
    project = project_for(tmp_path, max_invalid_retries=1)
    backend = ScriptedBackend(lambda prompt: "I cannot decide.")
    summary = run_validate(project.config(), data, progress=False, backend=backend)
    assert (summary.model_calls, summary.retries, summary.invalid_judgments) == (12, 6, 6)
    assert summary.report.overall.invalid == 6 and summary.report.overall.invalid_share.value == 1.0
    assert summary.report.overall.agreement.value == 0.0 and summary.report.overall.position_consistency.value is None
    again = run_validate(project.config(), data, progress=False, backend=backend)
    assert again.model_calls == 0  # invalid judgments are measured, not retried


def test_the_cli_prints_the_table_or_json_through_the_scripted_server(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "small.jsonl", SMALL)
    runner = CliRunner()
    with ScriptedServer(oracle(read_dataset(data).pairs)) as server:
        project = make_project(tmp_path / "p", scripted_judge(server.base_url))
        table = runner.invoke(app, ["judge", "validate", str(data), "-c", str(project.config_path)])
        assert table.exit_code == 0, table.output
        assert len(server.requests) == 6
        shown = runner.invoke(app, ["judge", "validate", str(data), "-c", str(project.config_path),
                                    "--output", "json", "--bootstrap", "100"])
    assert len(server.requests) == 6  # the second run reused everything
    assert "agreement" in table.stdout and "split=tie" in table.stdout and "fever" in table.stdout
    report = json.loads(shown.stdout)
    assert report["overall"]["agreement"]["value"] == 1.0 and report["pairs"] == 3
    assert report["overall"]["agreement_split_as_tie"]["value"] == 1.0  # the oracle splits the tie
    assert math.isclose(report["overall"]["position_consistency"]["value"], 2 / 3)
    assert [g["name"] for g in report["categories"]] == ["fever", "injury"]
    bad = runner.invoke(app, ["judge", "validate", str(tmp_path / "nope.jsonl"), "-c", str(project.config_path)])
    assert bad.exit_code != 0


def test_the_cli_keeps_arena_judge_and_its_options_working(tmp_path: Path) -> None:
    runner = CliRunner()
    project = project_for(tmp_path)
    listed = runner.invoke(app, ["judge", "--help"])
    assert listed.exit_code == 0 and "validate" in listed.stdout and "--dry-run" in listed.stdout
    dry = runner.invoke(app, ["judge", "-c", str(project.config_path), "--dry-run"])
    assert dry.exit_code == 0 and "0 judgment(s) to make" in dry.stderr


def test_a_store_failing_mid_run_is_a_one_line_error(tmp_path: Path) -> None:
    from arena.errors import StoreError

    data = write_jsonl(tmp_path / "small.jsonl", SMALL)
    project = project_for(tmp_path)

    class BreaksTheStore(ScriptedBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            store = open_store(project.config().storage_url)
            with store.transaction() as connection:
                connection.execute(validation_judgments.delete())
                connection.exec_driver_sql("DROP TABLE validation_judgments")
            store.close()
            yield from super().generate(requests)

    with pytest.raises(StoreError, match=r"cannot write to store .*no such table") as error:
        run_validate(project.config(), data, progress=False,
                     backend=BreaksTheStore(prefer_longer_answer_script))
    assert "\n" not in str(error.value)
