"""`arena questions validate` end to end: time and peak memory (target: any 50,000-question file
under 60 s and 2 GB on this 2-core machine).

Each set is validated by the real command in a child process (`arena questions validate FILE`,
the embedding check as shipped: it runs up to `--embedding-limit` questions and says when it
skipped), and its wall time and peak resident memory (`/usr/bin/time`'s maximum
resident set size) are printed. The sets: the shipped one; template-heavy questions like
MedQuAD's ("What are the symptoms of X?") at 5,000 and 50,000; and the adversarial 50,000 drawn
from a 30-word vocabulary, where most pairs share many shingles and whole hash buckets hold
thousands of look-alikes. Each synthetic set has planted near duplicates so the check has
something to find. Run: .venv/bin/python benchmarks/question_checks.py
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from arena.files import resolve_path
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
         "anxiety vaccine pregnancy breast lung skin bone joint eye ear throat nose head back "
         "stomach chest").split()  # 30 words


def write_set(path: Path, texts: list[str], rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n, text in enumerate(texts):
            row = {"id": f"q{n}", "text": text, "category": rng.choice(CATEGORIES), "kind": rng.choice(KINDS)}
            out.write(json.dumps(row) + "\n")


def template_texts(rng: random.Random, count: int) -> list[str]:
    pairs = [(t, c) for t in TEMPLATES for c in CONDITIONS]
    rng.shuffle(pairs)
    texts = [t.format(c) for t, c in pairs[: count - 50]]
    while len(texts) < count - 50:  # more than the templates make: numbered variants
        t, c = rng.choice(pairs)
        texts.append(t.format(f"{c} type {len(texts)}"))
    texts += [texts[i].replace("?", " at home?") for i in range(50)]  # planted near duplicates
    return texts


def adversarial_texts(rng: random.Random, count: int) -> list[str]:
    texts = ["What should I know about " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20))) + "?"
             for _ in range(count - 50)]
    texts += [texts[i].replace("?", " now?") for i in range(50)]
    return texts


def measure(path: Path) -> tuple[float, float, list[str]]:
    """Wall seconds and peak RSS in MB (from /usr/bin/time) and the report's last lines, of
    `arena questions validate`."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "arena.cli", "questions",
                           "validate", str(path)], capture_output=True, text=True, env=os.environ.copy())
    seconds, peak_kb = done.stderr.strip().splitlines()[-1].split()
    tail = [line for line in done.stdout.splitlines() if not line.startswith(str(path))]
    return float(seconds), int(peak_kb) / 1024, tail


def main() -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("shipped", resolve_path("arena:questions/health-v1.jsonl"))]
        for name, make, count in (("template-heavy", template_texts, 5_000),
                                  ("template-heavy", template_texts, 50_000),
                                  ("adversarial", adversarial_texts, 50_000)):
            path = Path(tmp) / f"{name}-{count}.jsonl"
            write_set(path, make(rng, count), rng)
            sets.append((f"{name} {count:,}", path))
        for label, path in sets:
            seconds, peak_mb, tail = measure(path)
            print(f"{label:>22}: {seconds:6.1f} s, peak {peak_mb:7.0f} MB | " + " | ".join(tail), flush=True)


if __name__ == "__main__":
    main()
