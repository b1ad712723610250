"""MedQuAD (Ben Abacha and Demner-Fushman): a tree of XML files of question-answer pairs, CC-BY-4.0."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.questions.importers.rows import ImportOptions, Row, Skip, clean_answer, natural_key, slug
from arena.questions.schema import DEFAULT_KIND

# MedQuAD question types (qtype attribute) onto our kinds; unlisted types become "general".
MEDQUAD_KINDS = {
    "symptoms": "symptoms", "exams and tests": "diagnosis", "diagnosis": "diagnosis",
    "treatment": "treatment", "prevention": "prevention", "outlook": "prognosis",
    "complications": "prognosis", "stages": "prognosis", "causes": "mechanism",
    "genetic changes": "mechanism", "inheritance": "mechanism", "how does it work": "mechanism",
    "susceptibility": "prevention", "screening": "screening",
    "important warning": "medication", "indication": "medication", "usage": "medication",
    "precautions": "medication", "dietary": "medication", "forget a dose": "medication",
    "side effects": "medication", "storage and disposal": "medication", "contraindication": "medication",
    "emergency or overdose": "when-to-seek-care", "interactions with medications": "medication",
    "interactions with foods": "medication", "interactions with herbs and supplements": "medication",
    "how effective is it": "treatment", "dosage": "medication",
}
MEDQUAD_SAFETY_QTYPES = {"important warning", "emergency or overdose", "contraindication",
                         "interactions with medications", "forget a dose"}
# MedQuAD collections (the Document source attribute) whose subject fixes our category.
MEDQUAD_CATEGORIES = {
    "cancergov": "oncology", "ninds": "neurology", "seniorhealth": "geriatrics",
    "nihseniorhealth": "geriatrics", "mplusdrugs": "pharmacology",
    "mplusherbssupplements": "pharmacology", "cdc": "infectious-disease",
}


def read(root: Path, options: ImportOptions) -> Iterator[Row | Skip]:
    """MedQuAD: a tree of XML files, each a <Document> with <QAPairs><QAPair><Question qtype>."""
    files = [root] if root.is_file() else sorted(root.rglob("*.xml"), key=natural_key)
    if not files:
        raise DataError(f"{root}: no MedQuAD XML files found")
    for path in files:
        try:
            document = ET.parse(path).getroot()
        except ET.ParseError as exc:
            line = exc.position[0] if exc.position else 0
            yield Skip(f"{path}:{line}", f"broken XML: {exc}")
            continue
        collection = document.get("source") or path.parent.name
        category = MEDQUAD_CATEGORIES.get(slug(collection).replace("-", ""))
        for pair in document.iter("QAPair"):
            question = pair.find("Question")
            where = f"{path} (QAPair pid={pair.get('pid', '?')})"
            if question is None or not (question.text or "").strip():
                yield Skip(where, "QAPair without question text")
                continue
            qtype = (question.get("qtype") or "").strip().lower()
            qid = question.get("qid") or f"{document.get('id', path.stem)}-{pair.get('pid', '?')}"
            answer = clean_answer(pair.findtext("Answer") or "")
            fields: dict[str, Any] = {
                "text": question.text, "kind": MEDQUAD_KINDS.get(qtype, DEFAULT_KIND),
                "source": f"MedQuAD/{collection}", "source_id": qid,
                "safety_critical": qtype in MEDQUAD_SAFETY_QTYPES,
            }
            if category:
                fields["category"] = category
            if answer:
                fields["reference"] = answer
            yield Row(where, f"{collection}/{qid}", fields)
