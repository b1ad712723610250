"""`arena questions import`: each format, stable ids, sampling, bad rows, and valid output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.cli import app
from arena.errors import DataError
from arena.questions.checks import validate_files
from arena.questions.importers import (
    import_questions,
    known_category,
    parse_field_map,
    stable_id,
    write_questions,
)
from arena.questions.importers.rows import ImportOptions, clean_text
from arena.questions.loading import load_questions
from tests.conftest import ARENA_SCRIPT

runner = CliRunner()


def run_import(*args: str):
    return runner.invoke(app, ["questions", "import", *args])


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- fixtures written the way the real sets are laid out ---------------------------------------

CANCER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001_1" source="CancerGov" url="https://www.cancer.gov/types/leukemia">
<Focus>Adult Acute Lymphoblastic Leukemia</Focus>
<FocusAnnotations><UMLS><CUIs><CUI>C0751606</CUI></CUIs></UMLS></FocusAnnotations>
<QAPairs>
\t<QAPair pid="1">
\t\t\t<Question qid="0000001_1-1" qtype="information">What is (are) Adult Acute Lymphoblastic Leukemia ?</Question>
\t\t\t<Answer>Key Points
                    - ALL is a cancer of the blood and bone marrow.</Answer>
\t</QAPair>
\t<QAPair pid="2">
\t\t\t<Question qid="0000001_1-2" qtype="symptoms">What are the symptoms of Adult Acute Lymphoblastic Leukemia ?</Question>
\t\t\t<Answer>Fever, feeling tired, and easy bruising or bleeding.</Answer>
\t</QAPair>
\t<QAPair pid="5">
\t\t\t<Question qid="0000001_1-5" qtype="susceptibility">Who is at risk for Adult Acute Lymphoblastic Leukemia? ?</Question>
\t\t\t<Answer>Previous chemotherapy and exposure to radiation.</Answer>
\t</QAPair>
</QAPairs>
</Document>
"""

ADAM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001" source="ADAM" url="https://www.nlm.nih.gov/medlineplus/ency/000823.htm">
 <!--Answers from the A.D.A.M. medical encyclopedia were removed-->
<Focus>A guide to clinical trials for cancer</Focus>
<QAPairs>
\t<QAPair pid="2">
\t\t\t<Question qid="0000001-2" qtype="research">what research (or clinical trials) is being done for A guide to clinical trials for cancer ?</Question>
\t\t\t<Answer></Answer>
\t</QAPair>
\t<QAPair pid="3">
\t\t\t<Question qid="0000001-3" qtype="research">what research (or clinical trials) is being done for A guide to clinical trials for cancer ?</Question>
\t\t\t<Answer></Answer>
\t</QAPair>
</QAPairs>
</Document>
"""

DRUGS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001" source="MPlusDrugs" url="https://www.nlm.nih.gov/medlineplus/druginfo/meds/a699012.html">
<Focus>Abacavir</Focus>
<QAPairs>
\t<QAPair pid="1">
\t\t\t<Question qid="0000001-1" qtype="important warning">What important warning or information should I know about Abacavir ?</Question>
\t\t\t<Answer></Answer>
\t</QAPair>
\t<QAPair pid="8">
\t\t\t<Question qid="0000001-8" qtype="side effects">What are the side effects or risks of Abacavir ?</Question>
\t\t\t<Answer></Answer>
\t</QAPair>
\t<QAPair pid="9">
\t\t\t<Question qid="0000001-9" qtype="side effects"></Question>
\t\t\t<Answer></Answer>
\t</QAPair>
</QAPairs>
</Document>
"""


@pytest.fixture
def medquad_dir(tmp_path: Path) -> Path:
    root = tmp_path / "MedQuAD"
    for folder, name, text in (("1_CancerGov_QA", "0000001_1.xml", CANCER_XML),
                               ("10_MPlus_ADAM_QA", "0000001.xml", ADAM_XML),
                               ("11_MPlusDrugs_QA", "0000001.xml", DRUGS_XML),
                               ("11_MPlusDrugs_QA", "0000002.xml", "<Document><QAPairs><QAPair>")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(text, encoding="utf-8")
    return root


KQA_ROWS = [
    {"Question": "Can I take probiotics while breastfeeding?", "Free_form_answer": "Yes, probiotics are "
     "generally considered safe while breastfeeding.", "Must_have": ["Probiotics are safe."],
     "Nice_to_have": [], "ICD_10_diag": "Mastitis without abscess"},
    {"Question": "Is it contagious?", "Free_form_answer": "", "Must_have": [], "Nice_to_have": [],
     "ICD_10_diag": "Acute pharyngitis, unspecified"},
    {"Question": "Is it contagious?", "Free_form_answer": "", "Must_have": [], "Nice_to_have": [],
     "ICD_10_diag": "Viral conjunctivitis, unspecified"},
    {"Question": "Will Claritin affect breastfeeding supply?", "ICD_10_diag": "Acute upper respiratory infection"},
]


@pytest.fixture
def kqa_file(tmp_path: Path) -> Path:
    lines = [json.dumps(row) for row in KQA_ROWS]
    lines.insert(2, '{"Question": "broken')
    lines.insert(4, json.dumps({"ICD_10_diag": "no question here"}))
    path = tmp_path / "questions_w_answers.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CSV_TEXT = (
    "qid,question,specialty,who,urgent\n"
    "a1,How long does a sprained ankle take to heal?,Orthopedics,patient,no\n"
    'a2,"Which antibiotics are safe in penicillin allergy,\nand which are not?",Infectious Disease,clinician,yes\n'
    "a3,What is the dose of amoxicillin for otitis media in children?,Pediatrics,clinician,no,extra\n"
    "a4,What does a high ferritin level mean?,Lab medicine,patient,no\n"
    "a5,,cardiology,patient,no\n"
)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.csv"
    data = CSV_TEXT.encode("utf-8") + "a6,Is caf\xe9 au lait safe in pregnancy?,nutrition,patient,no\n".encode("latin-1")
    data += b"a7,Can stress cause chest pain?,cardiology,patient,yes\n"
    path.write_bytes(data)
    return path


# --- MedQuAD -----------------------------------------------------------------------------------

def test_medquad_import(medquad_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "medquad.jsonl"
    result = run_import(str(medquad_dir), "--format", "medquad", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_out(out)
    assert [r["source_id"] for r in rows] == [
        "0000001_1-1", "0000001_1-2", "0000001_1-5", "0000001-2", "0000001-1", "0000001-8"]
    first = rows[0]
    assert first["text"] == "What is (are) Adult Acute Lymphoblastic Leukemia?"
    assert first["category"] == "oncology"  # CancerGov's subject
    assert first["source"] == "MedQuAD/CancerGov" and first["license"] == "CC-BY-4.0"
    assert first["reference"] == "Key Points\n- ALL is a cancer of the blood and bone marrow."
    assert first["id"] == stable_id("medquad", "MedQuAD", "CancerGov/0000001_1-1")
    assert rows[2]["text"] == "Who is at risk for Adult Acute Lymphoblastic Leukemia?"
    assert [r["kind"] for r in rows] == ["general", "symptoms", "prevention", "general", "medication", "medication"]
    assert rows[3]["category"] == "general-practice" and "reference" not in rows[3]
    assert [r["safety_critical"] for r in rows] == [False, False, False, False, True, False]
    assert rows[4]["category"] == "pharmacology"
    # the broken file and the empty question are reported with their location; the repeat is dropped
    broken = medquad_dir / "11_MPlusDrugs_QA" / "0000002.xml"
    drugs = medquad_dir / "11_MPlusDrugs_QA" / "0000001.xml"
    assert f"{broken}:1: broken XML" in result.stderr
    assert f"{drugs} (QAPair pid=9): QAPair without question text" in result.stderr
    assert "skipped 2 row(s), dropped 1 duplicate(s)" in result.stdout
    assert validate_files([out]).errors == []


def test_medquad_category_option_fills_collections_without_a_subject(medquad_dir: Path) -> None:
    result = import_questions(medquad_dir, "medquad", ImportOptions(category="oncology", audience="clinician"))
    assert {q.category for q in result.questions} == {"oncology", "pharmacology"}
    assert {q.audience for q in result.questions} == {"clinician"}


# --- K-QA --------------------------------------------------------------------------------------

def test_kqa_import(kqa_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "kqa.jsonl"
    result = run_import(str(kqa_file), "--format", "kqa", "--out", str(out), "--category", "general-practice")
    assert result.exit_code == 0, result.output
    rows = read_out(out)
    assert [r["text"] for r in rows] == [
        "Can I take probiotics while breastfeeding?", "Is it contagious?",
        "Will Claritin affect breastfeeding supply?"]
    assert rows[0]["reference"].startswith("Yes, probiotics")
    assert "reference" not in rows[1]
    assert rows[0]["license"] == "MIT" and rows[0]["source"] == "K-QA"
    assert rows[0]["source_id"] == "questions_w_answers.jsonl:1"
    assert all(r["id"].startswith("kqa-") for r in rows)
    assert f"{kqa_file}:3: malformed JSON" in result.stderr
    assert f'{kqa_file}:5: no "Question" text' in result.stderr
    assert "skipped 2 row(s), dropped 1 duplicate(s)" in result.stdout
    assert validate_files([out]).errors == []


def test_kqa_ids_follow_the_text_not_the_line(kqa_file: Path, tmp_path: Path) -> None:
    reordered = tmp_path / "reordered.jsonl"
    reordered.write_text("\n".join(json.dumps(r) for r in reversed(KQA_ROWS)) + "\n", encoding="utf-8")
    ids = {q.text: q.id for q in import_questions(kqa_file, "kqa", ImportOptions()).questions}
    again = {q.text: q.id for q in import_questions(reordered, "kqa", ImportOptions()).questions}
    assert ids == again


# --- CSV and JSONL with --map ------------------------------------------------------------------

def test_csv_import_with_map(csv_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "clinic.jsonl"
    result = run_import(str(csv_file), "--format", "csv", "--out", str(out), "--license", "CC0-1.0",
                        "--map", "text=question,category=specialty,id=qid,audience=who,safety_critical=urgent")
    assert result.exit_code == 0, result.output
    rows = read_out(out)
    assert [r["source_id"] for r in rows] == ["a1", "a2", "a4", "a7"]
    assert rows[0]["category"] == "musculoskeletal"  # "Orthopedics" is a spelling we know
    assert rows[1]["text"] == "Which antibiotics are safe in penicillin allergy, and which are not?"
    assert rows[1]["category"] == "infectious-disease"
    assert rows[1]["audience"] == "clinician" and rows[1]["safety_critical"] is True
    assert rows[2]["category"] == "general-practice"  # "Lab medicine" is not in the vocabulary
    assert all(r["license"] == "CC0-1.0" and r["source"] == "clinic" for r in rows)
    assert rows[0]["id"] == stable_id("clinic", "clinic", "a1")
    stderr = result.stderr
    assert f"{csv_file}:5: expected 5 columns, got 6" in stderr  # row a2's quoted text spans lines 3-4
    assert f"{csv_file}:7: no 'question' value" in stderr
    assert f"{csv_file}:8: not UTF-8 text" in stderr
    assert "note: 1 row(s): category 'Lab medicine' is not in the vocabulary; used 'general-practice'" in stderr
    assert "imported 4 question(s)" in result.stdout and "skipped 3 row(s)" in result.stdout
    assert validate_files([out]).errors == []


def test_csv_missing_optional_column_is_reported_and_the_rest_imported(csv_file: Path) -> None:
    options = ImportOptions(field_map=parse_field_map("text=question,category=department"))
    result = import_questions(csv_file, "csv", options)
    assert result.problems[0] == (
        f"{csv_file}:1: no column 'department' (columns: qid, question, specialty, who, urgent); "
        "its field stays unset")
    assert len(result.questions) == 4
    assert {q.category for q in result.questions} == {"general-practice"}
    assert result.skipped == 3  # the header problem is not a skipped row


def test_csv_without_the_text_column_imports_nothing(csv_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"clinic.csv:1: no column 'prompt' for the question text"):
        import_questions(csv_file, "csv", ImportOptions(field_map={"text": "prompt"}))
    result = run_import(str(csv_file), "--format", "csv", "--out", str(tmp_path / "x.jsonl"), "--map", "text=prompt")
    assert result.exit_code != 0 and not (tmp_path / "x.jsonl").exists()


def test_jsonl_import_of_our_own_schema_and_of_mapped_fields(tmp_path: Path) -> None:
    source = tmp_path / "mine.jsonl"
    source.write_text("\n".join([
        json.dumps({"id": "x1", "text": "How is gout treated?", "category": "musculoskeletal", "kind": "treatment"}),
        "[1, 2]",
        json.dumps({"id": "x2", "text": "What is a normal INR on warfarin?", "category": "haematology",
                    "kind": "medication", "audience": "clinician", "safety_critical": True}),
        json.dumps({"id": "x3", "text": "Why do I sneeze in sunlight?", "kind": "curiosity"}),
    ]) + "\n", encoding="utf-8")
    result = import_questions(source, "jsonl", ImportOptions())
    assert result.problems == [f"{source}:2: expected a JSON object, got list"]
    assert [(q.source_id, q.category, q.kind, q.audience, q.safety_critical) for q in result.questions] == [
        ("x1", "musculoskeletal", "treatment", "patient", False),
        ("x2", "haematology", "medication", "clinician", True),
        ("x3", "general-practice", "general", "patient", False),
    ]
    assert "1 row(s): kind 'curiosity' is not in the vocabulary; used 'general'" in result.notes

    mapped = tmp_path / "theirs.jsonl"
    mapped.write_text(json.dumps({"prompt": "Should I worry about a mole that itches?", "area": "dermatology"})
                      + "\n", encoding="utf-8")
    options = ImportOptions(field_map=parse_field_map("text=prompt,category=area"), source_name="derm set")
    (question,) = import_questions(mapped, "jsonl", options).questions
    assert question.category == "dermatology" and question.source == "derm set"
    assert question.id.startswith("derm-set-") and question.source_id is None


# --- ids, sampling, errors ---------------------------------------------------------------------

def test_importing_twice_gives_the_same_ids(medquad_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    for out in (first, second):
        assert run_import(str(medquad_dir), "--format", "medquad", "--out", str(out)).exit_code == 0
    assert first.read_text() == second.read_text()
    ids = [q.id for q in load_questions([first])]
    assert len(ids) == len(set(ids)) == 6


def test_sample_with_seed_is_reproducible_and_independent_of_row_order(tmp_path: Path) -> None:
    rows = [{"id": f"r{n}", "text": f"Question number {n} about sleep hygiene and naps?",
             "category": "general-practice"} for n in range(40)]
    forward, backward = tmp_path / "f.jsonl", tmp_path / "b.jsonl"
    forward.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    backward.write_text("\n".join(json.dumps(r) for r in reversed(rows)), encoding="utf-8")

    def sampled(path: Path, seed: int) -> set[str]:
        options = ImportOptions(sample=10, seed=seed, source_name="naps")
        result = import_questions(path, "jsonl", options)
        assert len(result.questions) == 10
        return {q.id for q in result.questions}

    assert sampled(forward, 1) == sampled(forward, 1) == sampled(backward, 1)
    assert sampled(forward, 1) != sampled(forward, 2)
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b_out.jsonl"
    for out in (out_a, out_b):
        result = run_import(str(forward), "--format", "jsonl", "--out", str(out), "--sample", "5", "--seed", "3")
        assert result.exit_code == 0 and "sampled 5 of 40 question(s) with seed 3" in result.stderr
    assert out_a.read_text() == out_b.read_text()


def test_nothing_importable_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("{broken\n[]\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_import(str(source), "--format", "kqa", "--out", str(out))
    assert isinstance(result.exception, DataError)
    assert str(result.exception) == f"{source}: nothing imported (2 row(s) read, 2 skipped)"
    assert not out.exists()


def test_missing_source_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    proc = subprocess.run(
        [str(ARENA_SCRIPT), "questions", "import", str(missing), "--format", "medquad",
         "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {missing}: source not found"


def test_bad_options_are_rejected(tmp_path: Path, kqa_file: Path) -> None:
    out = str(tmp_path / "o.jsonl")
    assert run_import(str(kqa_file), "--format", "xml", "--out", out).exit_code == 2
    assert run_import(str(kqa_file), "--format", "kqa", "--out", out, "--category", "astrology").exit_code == 2
    assert run_import(str(kqa_file), "--format", "kqa", "--out", out, "--audience", "nurse").exit_code == 2
    with pytest.raises(DataError, match="unknown field 'question'"):
        parse_field_map("question=text")
    with pytest.raises(DataError, match="expected ourfield=theirfield"):
        parse_field_map("text")


def test_helpers() -> None:
    assert clean_text("  What is (are)   Gout ? ?") == "What is (are) Gout?"
    assert known_category("Obstetrics & Gynecology") == "obstetrics-gynaecology"
    assert known_category("Astrology") is None and known_category("") is None
    assert known_category("Mental Health") == "mental-health"
    assert stable_id("kqa", "K-QA", "x") == stable_id("kqa", "K-QA", "x") != stable_id("kqa", "K-QA", "y")


def test_reference_and_its_old_name_reference_answer_load_into_one_field(tmp_path: Path) -> None:
    from arena.questions.loading import parse_question_line

    base = {"id": "r1", "text": "How should I take metformin?", "category": "endocrinology"}
    new = parse_question_line(json.dumps({**base, "reference": "With meals."}), "f:1")
    old = parse_question_line(json.dumps({**base, "reference_answer": "With meals."}), "f:2")
    assert new == old and new.reference == "With meals."
    assert parse_question_line(json.dumps({**base, "reference": "  "}), "f:3").reference is None
    with pytest.raises(DataError, match="f:4: .*reference or reference_answer, not both"):
        parse_question_line(json.dumps({**base, "reference": "a", "reference_answer": "b"}), "f:4")
    # imports map either name; the file written uses `reference`
    source = tmp_path / "refs.jsonl"
    source.write_text(json.dumps({"question": "Is it contagious?", "reference_answer": "Yes, for a week."}) + "\n",
                      encoding="utf-8")
    (question,) = import_questions(source, "jsonl", ImportOptions()).questions
    assert question.reference == "Yes, for a week."
    out = tmp_path / "out.jsonl"
    write_questions([question], out)
    assert json.loads(out.read_text())["reference"] == "Yes, for a week."
    assert parse_field_map("reference_answer=answer") == {"reference": "answer"}


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "byte-order mark"])
def test_import_and_validate_name_the_same_line_and_column(tmp_path: Path, bom: bytes) -> None:
    good = json.dumps({"id": "a", "text": "What is gout?", "category": "musculoskeletal"})
    bad = '{"id": "b", "text": "What is lupus?" "category": "musculoskeletal"}'
    source = tmp_path / "theirs.jsonl"
    source.write_bytes(bom + f"{bad}\n{good}\n".encode())
    (validated,) = [str(p) for p in validate_files([source]).problems]
    result = import_questions(source, "jsonl", ImportOptions())
    (imported,) = result.problems
    column = "(column 38)"
    assert validated.startswith(f"{source}:1: error: malformed JSON") and validated.endswith(column)
    assert imported.startswith(f"{source}:1: malformed JSON") and imported.endswith(column)
