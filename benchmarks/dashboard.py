"""How fast the dashboard's pages render on a big store. Target: leaderboard under 2 s.

Fills a temporary SQLite store with ~20 models, ~2,000 questions, their answers, 200,000
judgments (both orders of 100,000 battles, with feedback of realistic length), rates it with the
real ratings code (`build_report`, `save_snapshot`), then renders pages with Streamlit's AppTest:

- first render: the first render in this process (imports, empty caches, first queries);
- cold cache: caches cleared, modules already imported (what a new snapshot costs);
- warm: the same page again (what every later view costs).
A new AppTest also scans the installed packages for Streamlit components once (0.2-1 s here); that
is the test harness, not the page, so cold-cache runs reuse one AppTest.

    .venv/bin/python benchmarks/dashboard.py [--battles 100000] [--models 20] [--questions 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from arena.dashboard import APP  # noqa: E402
from arena.questions.schema import CATEGORIES  # noqa: E402
from arena.ratings.build import RatingOptions, build_report  # noqa: E402
from arena.ratings.data import battles_fingerprint, load_battles  # noqa: E402
from arena.ratings.diagnostics import judge_diagnostics  # noqa: E402
from arena.ratings.report import RatingParams  # noqa: E402
from arena.ratings.snapshots import save_snapshot  # noqa: E402
from arena.store.battles import BattleSelection  # noqa: E402
from arena.store.engine import open_store, utcnow  # noqa: E402
from arena.store.judgments import judgment_counts  # noqa: E402
from arena.store.schema import answers, battles, judgments, questions  # noqa: E402
from arena.store.snapshots import answer_set_digest, save_answer_set  # noqa: E402

JUDGE_KEY = "benchjudgekey000"
WORDS = ("patient symptoms dose treatment risk blood pressure chest pain doctor emergency "
         "infection fever medication guideline evidence diagnosis follow-up advice safety "
         "clinician history examination referral screening lifestyle diet exercise sleep").split()
TARGET_S = 2.0


def text_pool(rng: random.Random, n_chars: int) -> str:
    words: list[str] = []
    total = 0
    while total < n_chars:
        word = rng.choice(WORDS)
        words.append(word)
        total += len(word) + 1
    return " ".join(words)


def fill_store(folder: Path, n_models: int, n_questions: int, n_battles: int, seed: int = 0) -> tuple[Path, str]:
    rng = random.Random(seed)
    url = f"sqlite:///{folder / 'arena.db'}"
    models = [f"model-{k:02d}" for k in range(n_models)]
    strength = {m: rng.gauss(0, 1) for m in models}
    (folder / "questions.jsonl").write_text('{"id": "q", "text": "t", "category": "cardiology"}\n')
    lines = ["models:"] + [f"  - {{name: {m}, backend: vllm, model: /models/{m}, parameters: {7 + k}B}}"
                           for k, m in enumerate(models)]
    config_path = folder / "arena.yaml"
    config_path.write_text("\n".join(lines) + f'\nquestions: questions.jsonl\nstorage: "{url}"\n')
    pool = text_pool(rng, 400_000)
    store = open_store(url)
    now = utcnow()
    started = time.perf_counter()
    with store.transaction() as connection:
        connection.execute(questions.insert(), [
            {"id": f"q-{q:05d}", "text": f"Question {q}: " + pool[q * 37 % 300_000:][:rng.randint(120, 600)],
             "category": CATEGORIES[q % len(CATEGORIES)], "audience": "patient" if q % 3 else "clinician",
             "kind": "treatment", "safety_critical": q % 7 == 0} for q in range(n_questions)])
        answer_rows = []
        for q in range(n_questions):
            for m in models:
                start = rng.randrange(0, 300_000)
                answer_rows.append({"model": m, "question_id": f"q-{q:05d}", "fingerprint": "bench",
                                    "text": pool[start:start + rng.randint(400, 2500)],
                                    "truncated": rng.random() < 0.03, "finish_reason": "stop",
                                    "completion_tokens": rng.randint(80, 700), "headers": rng.randint(0, 3),
                                    "list_items": rng.randint(0, 9), "bold": rng.randint(0, 4), "created_at": now})
        connection.execute(answers.insert(), answer_rows)
    answer_id = {(row["model"], row["question_id"]): k + 1 for k, row in enumerate(answer_rows)}
    answer_len = {key: len(answer_rows[k - 1]["text"]) for key, k in answer_id.items()}
    del answer_rows
    print(f"  questions and answers: {time.perf_counter() - started:.1f} s", file=sys.stderr)

    chosen: set[tuple[int, str, str]] = set()
    while len(chosen) < n_battles:
        a, b = sorted(rng.sample(models, 2))
        chosen.add((rng.randrange(n_questions), a, b))
    judgment_rows, battle_rows = [], []
    next_judgment = 1
    for q, a, b in sorted(chosen):
        qid = f"q-{q:05d}"
        p_a = 1 / (1 + 10 ** ((strength[b] - strength[a]) * 100 / 400))
        ids, letters = [], []
        for shown_a, shown_b, p_first in ((a, b, p_a), (b, a, 1 - p_a)):
            valid = rng.random() > 0.01
            verdict = ("A" if rng.random() < p_first * 0.9 + 0.07 else "B") if valid else None
            start = rng.randrange(0, 300_000)
            feedback = pool[start:start + rng.randint(300, 900)]
            judgment_rows.append({
                "judge_key": JUDGE_KEY, "question_id": qid, "model_a": shown_a, "model_b": shown_b,
                "answer_a_id": answer_id[shown_a, qid], "answer_b_id": answer_id[shown_b, qid],
                "judge": "prometheus-7b-v2.0", "rubric_id": "medical", "rubric_version": "1",
                "prompt_version": "1", "raw_output": f"{feedback} [RESULT] {verdict or ''}",
                "feedback": feedback if valid else None, "verdict": verdict, "valid": valid,
                "attempts": 1 if valid else 4, "p_a": None, "truncated": False, "created_at": now})
            ids.append(next_judgment)
            letters.append(verdict)
            next_judgment += 1
        votes = {v for v in ({"A": "model_a", "B": "model_b"}.get(letters[0] or ""),
                             {"A": "model_b", "B": "model_a"}.get(letters[1] or "")) if v}
        winner = votes.pop() if len(votes) == 1 else ("tie" if votes else "tie (bothbad)")
        battle_rows.append({
            "source": "judge", "question_id": qid, "category": CATEGORIES[q % len(CATEGORIES)],
            "model_a": a, "model_b": b, "winner": winner, "judge": "prometheus-7b-v2.0",
            "judge_key": JUDGE_KEY, "judgment_ab_id": ids[0], "judgment_ba_id": ids[1],
            "answer_a_id": answer_id[a, qid], "answer_b_id": answer_id[b, qid],
            "verdicts": letters[0] + letters[1] if None not in letters else None,
            "answer_a_len": answer_len[a, qid], "answer_b_len": answer_len[b, qid],
            "dedup_key": hashlib.sha1(f"{qid}|{a}|{b}".encode()).hexdigest(), "tstamp": 1.7e9 + len(battle_rows)})
    with store.transaction() as connection:
        for start in range(0, len(judgment_rows), 20_000):
            connection.execute(judgments.insert(), judgment_rows[start:start + 20_000])
        connection.execute(battles.insert(), battle_rows)
    print(f"  {len(judgment_rows)} judgments, {len(battle_rows)} battles: {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    store.close()
    return config_path, url


def rate(url: str, rounds: int) -> float:
    """What `arena rate` does once the judge key is known and every answer counts as current."""
    store = open_store(url)
    started = time.perf_counter()
    bs = load_battles(store, BattleSelection("judge", JUDGE_KEY))
    rated = np.concatenate([bs.answer_a, bs.answer_b])
    selection = BattleSelection("judge", JUDGE_KEY, answer_set_digest(rated), int(bs.battle_id.max()))
    options = RatingOptions(rounds=rounds)
    params = RatingParams("question", rounds, 0, None, options.style, options.min_category_battles,
                          options.min_model_battles, 1000.0, selection.answer_set, None)
    report = build_report(bs, options, params, selection=selection,
                          diagnostics=judge_diagnostics(bs, judgment_counts(store, JUDGE_KEY)))
    save_answer_set(store, rated)
    save_snapshot(store, report, battles_fingerprint=battles_fingerprint(bs), judge="prometheus-7b-v2.0",
                  rubric="medical v1")
    store.close()
    return time.perf_counter() - started


def render(page: str) -> tuple[float, object]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    if page != "leaderboard":
        at.run()  # switch_page needs one run first; not timed
    return timed(at, page)


def timed(at, page: str) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    if page != "leaderboard":
        at.switch_page(f"pages/{page}.py")
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise SystemExit(f"{page}: the page raised: {at.exception[0].value}")
    return elapsed, at


def clear_caches() -> None:
    import logging

    import streamlit as st

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]:
        logging.getLogger(name).setLevel(logging.ERROR)  # "no runtime" notes outside a session

    st.cache_data.clear()
    st.cache_resource.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--questions", type=int, default=2_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arena-dashboard-bench-") as tmp:
        folder = Path(tmp)
        print(f"filling a store: {args.models} models, {args.questions} questions, {args.battles} battles",
              file=sys.stderr)
        config_path, url = fill_store(folder, args.models, args.questions, args.battles)
        print(f"  store size: {(folder / 'arena.db').stat().st_size / 1e6:.0f} MB", file=sys.stderr)
        rate_s = rate(url, args.bootstrap)
        print(f"  arena rate ({args.bootstrap} bootstrap rounds, with categories): {rate_s:.1f} s", file=sys.stderr)
        os.environ["ARENA_CONFIG"] = str(config_path)

        cold_process, at = render("leaderboard")
        rows = len(at.dataframe[0].value)
        warm = [timed(at, "leaderboard")[0] for _ in range(args.repeat)]
        cold_cache = []
        for _ in range(args.repeat):
            clear_caches()
            cold_cache.append(timed(at, "leaderboard")[0])
        clear_caches()
        new_session = render("leaderboard")[0]
        print(f"\nleaderboard page ({rows} models, AppTest, {args.battles} battles, "
              f"{2 * args.battles} judgments):")
        print(f"  first render in this process: {cold_process:.3f} s (imports, empty caches, new store connection)")
        print(f"  cold cache:   {statistics.median(cold_cache):.3f} s (caches cleared; median of {args.repeat})")
        print(f"  warm:         {statistics.median(warm):.3f} s (median of {args.repeat})")
        print(f"  a new AppTest with cold caches: {new_session:.3f} s (includes AppTest's own scan of "
              "installed packages for components, 0.2-1 s here, which is the harness, not the page)")
        verdict = "meets" if statistics.median(cold_cache) < TARGET_S else "MISSES"
        print(f"  target < {TARGET_S:.0f} s with cold caches: {verdict}")

        print("\nother pages (cold cache / warm):")
        for page in ("heatmaps", "explorer", "judge", "history", "downloads"):
            clear_caches()
            cold, page_at = render(page)
            warm_page = statistics.median(timed(page_at, page)[0] for _ in range(3))
            print(f"  {page:<10} {cold:.3f} s / {warm_page:.3f} s")


if __name__ == "__main__":
    main()
