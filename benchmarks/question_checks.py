"""How long `arena questions validate` takes on 5,000 questions (target: a few seconds on 2 cores).

Two synthetic sets: template-heavy questions like MedQuAD's ("What are the symptoms of X?"),
and an adversarial set drawn from a 25-word vocabulary, where most pairs share many shingles
and MinHash has to propose (and then reject) the most candidates. Both get planted near
duplicates so the check has something to find. Run: .venv/bin/python benchmarks/question_checks.py
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from arena.questions.checks import validate_files
from arena.questions.schema import CATEGORIES, KINDS

TEMPLATES = [
    "What are the symptoms of {}?", "How is {} diagnosed?", "What is the treatment for {}?",
    "Can {} be prevented, and how?", "What is the outlook for someone with {}?",
    "When should I see a doctor about {}?", "Which medicines are used for {} in older adults?",
]
CONDITIONS = [f"{a} {b}" for a in ("acute", "chronic", "recurrent", "childhood", "severe", "mild",
                                   "hereditary", "primary", "secondary", "early")
              for b in ("asthma", "gout", "migraine", "eczema", "anaemia", "hepatitis", "psoriasis",
                        "bronchitis", "sinusitis", "arthritis", "colitis", "dermatitis", "glaucoma",
                        "neuropathy", "pancreatitis", "nephritis", "tendinitis", "vertigo",
                        "insomnia", "urticaria", "tonsillitis", "cystitis", "pericarditis",
                        "thyroiditis", "gastritis", "laryngitis", "otitis", "keratitis",
                        "myositis", "uveitis", "lymphoma", "leukaemia", "angina", "stroke",
                        "epilepsy", "lupus", "scoliosis", "rosacea", "acne", "shingles",
                        "measles", "mumps", "rubella", "malaria", "dengue", "cholera",
                        "typhoid", "tetanus", "rabies", "scabies", "ringworm", "thrush",
                        "sepsis", "pneumonia", "COPD", "emphysema", "fibrosis", "sarcoidosis",
                        "gallstones", "kidney stones", "hernia", "appendicitis", "diverticulitis",
                        "haemorrhoids", "varicose veins", "DVT", "heart failure", "arrhythmia",
                        "hypertension", "diabetes", "obesity")]
WORDS = ("pain fever cough rash dose child adult heart kidney liver blood sugar pressure sleep "
         "anxiety vaccine pregnancy breast lung skin bone joint eye ear throat").split()


def write_set(path: Path, texts: list[str], rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n, text in enumerate(texts):
            row = {"id": f"q{n}", "text": text, "category": rng.choice(CATEGORIES), "kind": rng.choice(KINDS)}
            out.write(json.dumps(row) + "\n")


def template_texts(rng: random.Random, count: int) -> list[str]:
    pairs = [(t, c) for t in TEMPLATES for c in CONDITIONS]
    rng.shuffle(pairs)
    texts = [t.format(c) for t, c in pairs[: count - 50]]
    texts += [texts[i].replace("?", " at home?") for i in range(50)]  # planted near duplicates
    return texts


def adversarial_texts(rng: random.Random, count: int) -> list[str]:
    texts = ["What should I know about " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20))) + "?"
             for _ in range(count - 50)]
    texts += [texts[i].replace("?", " now?") for i in range(50)]
    return texts


def main() -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("template-heavy", template_texts), ("adversarial", adversarial_texts)):
            path = Path(tmp) / f"{name}.jsonl"
            write_set(path, make(rng, 5000), rng)
            start = time.perf_counter()
            report = validate_files([path])
            seconds = time.perf_counter() - start
            print(f"{name:>15}: validate 5000 questions in {seconds:.2f} s "
                  f"({len(report.errors)} errors, {len(report.warnings)} near-duplicate warnings)")


if __name__ == "__main__":
    main()
