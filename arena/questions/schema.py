"""The schema of one curated health question, and the vocabularies of the shipped sets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_QUESTION_CHARS = 4000
REFERENCE_ALIAS = "reference_answer"

# The controlled vocabularies of the shipped sets; `arena questions validate` flags other values.
CATEGORIES = (
    "cardiology", "endocrinology", "infectious-disease", "paediatrics", "obstetrics-gynaecology",
    "mental-health", "oncology", "pharmacology", "neurology", "dermatology", "emergency-medicine",
    "nutrition", "geriatrics", "respiratory", "gastroenterology", "nephrology", "musculoskeletal",
    "ophthalmology", "ent", "urology", "haematology", "sexual-health", "general-practice",
)
KINDS = (
    "symptoms", "diagnosis", "treatment", "medication", "prevention", "lifestyle",
    "when-to-seek-care", "prognosis", "screening", "procedure", "mechanism",
)
DEFAULT_KIND = "general"  # the schema's default kind: a question that names no kind is not an error
KNOWN_KINDS = (*KINDS, DEFAULT_KIND)


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    text: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    category: str = Field(min_length=1, max_length=100)
    audience: Literal["patient", "clinician"] = "patient"
    kind: str = Field(DEFAULT_KIND, min_length=1, max_length=100)
    safety_critical: bool = False
    # An answer the judge may compare against (Prometheus 2's relative prompt with a reference).
    # `reference_answer`, this field's name before, is read as an alias.
    reference: str | None = None  # empty means none
    source: str | None = None
    license: str | None = None
    source_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference_alias(cls, raw: object) -> object:
        if isinstance(raw, dict) and REFERENCE_ALIAS in raw:
            if "reference" in raw:
                raise ValueError(f"give reference or {REFERENCE_ALIAS}, not both")
            raw = {**raw, "reference": raw[REFERENCE_ALIAS]}
            del raw[REFERENCE_ALIAS]
        if isinstance(raw, dict) and isinstance(raw.get("reference"), str) and not raw["reference"].strip():
            raw = {**raw, "reference": None}
        return raw
