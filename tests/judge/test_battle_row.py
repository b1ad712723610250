"""The judge's battle rows carry both answers (ids, style) and both verdicts."""

from __future__ import annotations

from pathlib import Path

from arena.answer_style import answer_style
from arena.judge import run_judge
from tests.fakes.scripted_server import ScriptedServer, prefer_longer_answer_script
from tests.judge.helpers import add_answers, make_project, scripted_judge

TEXTS = {
    ("alpha", "q1"): "Call 999.",
    ("beta", "q1"): "# Stroke\n- face drooping\n- arm weakness\n**Call 999 now.**",
    ("alpha", "q2"): "With food.",
    ("beta", "q2"): "## Metformin\n1. Take it **with meals**.\n2. Start low.",
}


def test_battles_record_answer_ids_verdicts_and_style(tmp_path: Path) -> None:
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
        for side, model in (("a", "alpha"), ("b", "beta")):
            text = TEXTS[model, qid]
            expected = answer_style(text, len(text.split()))
            assert battle[f"answer_{side}_tokens"] == expected.tokens
            assert battle[f"answer_{side}_headers"] == expected.headers
            assert battle[f"answer_{side}_list_items"] == expected.list_items
            assert battle[f"answer_{side}_bold"] == expected.bold
    q1 = next(b for b in rows if b["question_id"] == "q1")
    assert (q1["answer_b_headers"], q1["answer_b_list_items"], q1["answer_b_bold"]) == (1, 2, 1)
