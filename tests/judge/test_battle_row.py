"""The judge's battle rows carry both answers' ids and both verdicts; the answers their style."""

from __future__ import annotations

from pathlib import Path

from arena.answers import answer_style
from arena.judge import run_judge
from arena.store.schema import answers
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.judge.helpers import add_answers, make_project, scripted_judge

TEXTS = {
    ("alpha", "q1"): "Call 999.",
    ("beta", "q1"): "# Stroke\n- face drooping\n- arm weakness\n**Call 999 now.**",
    ("alpha", "q2"): "With food.",
    ("beta", "q2"): "## Metformin\n1. Take it **with meals**.\n2. Start low.",
}


def test_battles_record_answer_ids_and_verdicts_and_answers_their_style(tmp_path: Path) -> None:
    with ScriptedServer(prefer_longer_answer_script) as server:
        project = make_project(tmp_path / "p", scripted_judge(server.base_url), models=("alpha", "beta"))
        ids = add_answers(project, TEXTS)
        run_judge(project.config(), progress=False)
    rows = project.battles()
    assert len(rows) == 2
    for battle in rows:
        qid = battle["question_id"]
        assert (battle["answer_a_id"], battle["answer_b_id"]) == (ids["alpha", qid], ids["beta", qid])
        assert battle["winner"] == "model_b" and battle["verdicts"] == "BA"
        assert battle["answer_a_tokens"] is None  # a judged battle's style is its answers'
    stored = {row["id"]: row for row in project.rows(answers)}
    for (model, qid), answer_id in ids.items():
        text = TEXTS[model, qid]
        expected = answer_style(text, len(text.split()))
        row = stored[answer_id]
        assert (row["completion_tokens"], row["headers"], row["list_items"], row["bold"]) == (
            expected.tokens, expected.headers, expected.list_items, expected.bold)
    assert (stored[ids["beta", "q1"]]["headers"], stored[ids["beta", "q1"]]["list_items"],
            stored[ids["beta", "q1"]]["bold"]) == (1, 2, 1)
