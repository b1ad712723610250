"""`arena generate` with in-process scripted backends: what is generated, reused, replaced, failed."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from arena.answers import answer_fingerprint, chat_messages, expected_fingerprints
from arena.backends.base import GenerationRequest
from arena.backends.scripted import ScriptedBackend, ScriptedReply
from arena.config import ArenaConfig, ModelConfig, load_config
from arena.errors import BackendError, ConfigError, StoreError
from arena.generate import GenerateRequest, GenerateSummary, run_generate
from arena.questions.loading import load_questions
from arena.store.answers import load_current_answers, sync_questions
from arena.store.engine import open_store, utcnow
from arena.store.schema import answers, battles, judgments, questions, runs
from tests.fakes.project import openai_model, write_project


@dataclass
class Candidates:
    """The scripted candidates: each answers "<model>: <question>"; questions listed in `fail` get
    a per-request error, those in `truncate` run out of tokens, and after `die_after` results a
    backend raises (like a crashing engine). Every backend made is kept in `made`."""

    fail: set[str] = field(default_factory=set)
    truncate: set[str] = field(default_factory=set)
    die_after: int | None = None
    made: list[ScriptedBackend] = field(default_factory=list)

    def factory(self, model: ModelConfig) -> ScriptedBackend:
        backend = ScriptedBackend(name=model.name, on_request=lambda request: self.reply(model.name, request),
                                  die_after=self.die_after, engine="scripted 1.0")
        self.made.append(backend)
        return backend

    def reply(self, name: str, request: GenerationRequest) -> ScriptedReply:
        if request.key in self.fail:
            return ScriptedReply(text="bad request", status=400)
        text = f"{name}: {request.messages[-1]['content']}" if request.messages else ""
        return ScriptedReply(text=text, finish_reason="length" if request.key in self.truncate else "stop",
                             prompt_tokens=3, completion_tokens=4, latency_s=0.01)

    @property
    def calls(self) -> list[tuple[str, list[GenerationRequest]]]:
        return [(backend.name, call) for backend in self.made for call in backend.calls]


SCRIPT = Candidates()


@pytest.fixture(autouse=True)
def reset_script() -> None:
    global SCRIPT
    SCRIPT = Candidates()


def symptom_questions(count: int) -> list[dict[str, str]]:
    return [{"id": f"q{i}", "text": f"What is symptom {i}?", "category": "cardiology"} for i in range(count)]


def project(tmp_path: Path, models: list[dict[str, object]] | None = None, questions_count: int = 5,
            **top: object) -> ArenaConfig:
    models = models or [openai_model("alpha", "http://x/v1", model="a"),
                        openai_model("beta", "http://x/v1", model="b")]
    path = write_project(tmp_path, models=models, questions=symptom_questions(questions_count), extra=top)
    return load_config(path)


def generate(config: ArenaConfig, names: list[str] | None = None, limit: int | None = None,
             force: bool = False) -> tuple[GenerateSummary, str]:
    out = io.StringIO()
    request = GenerateRequest(models=tuple(names) if names else None, limit=limit, force=force)
    summary = run_generate(config, request, backend_factory=SCRIPT.factory, out=out, progress=False)
    return summary, out.getvalue()


def answer_rows(config: ArenaConfig) -> list[tuple]:
    store = open_store(config.storage_url)
    with store.connect() as c:
        rows = c.execute(select(answers.c.id, answers.c.model, answers.c.question_id, answers.c.text,
                                answers.c.fingerprint).order_by(answers.c.id)).all()
    store.close()
    return [tuple(r) for r in rows]


def test_generates_every_missing_answer_once(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url)
    summary, out = generate(config)
    assert (summary.generated, summary.reused, summary.failed) == (10, 0, 0)
    assert [m.model for m in summary.models] == ["alpha", "beta"]
    rows = answer_rows(config)
    assert len(rows) == 10 and len({(r[1], r[2]) for r in rows}) == 10
    assert ("alpha", "q3") in {(r[1], r[2]) for r in rows}
    assert "alpha" in out and "generated" in out

    again, _ = generate(config)
    assert (again.generated, again.reused, again.failed) == (0, 10, 0)
    assert SCRIPT.calls[-1][0] == "beta" and len(SCRIPT.calls) == 2  # no backend made
    assert answer_rows(config) == rows


def test_stored_answer_carries_everything(tmp_path: Path) -> None:
    config = project(tmp_path, questions_count=1)
    SCRIPT.truncate = {"q0"}
    summary, out = generate(config, ["alpha"])
    assert summary.truncated == 1
    store = open_store(config.storage_url)
    with store.connect() as c:
        row = c.execute(select(answers)).one()
        question_row = c.execute(select(questions)).one()
    store.close()
    assert row.text == "alpha: What is symptom 0?" and row.finish_reason == "length" and row.truncated
    assert (row.prompt_tokens, row.completion_tokens, row.latency_s, row.engine) == (3, 4, 0.01, "scripted 1.0")
    assert question_row.text == "What is symptom 0?" and question_row.category == "cardiology"
    assert "truncated" in out.splitlines()[0] and out.splitlines()[1].split()[-1] == "1"


def test_messages_use_the_system_prompt_and_omit_an_empty_one(tmp_path: Path) -> None:
    config = project(tmp_path, models=[
        {"name": "alpha", "backend": "openai", "model": "a", "base_url": "http://x/v1"},
        {"name": "quiet", "backend": "openai", "model": "b", "base_url": "http://x/v1", "system_prompt": ""},
    ], system_prompt="Be brief.")
    generate(config, limit=1)
    (alpha_name, alpha_requests), (quiet_name, quiet_requests) = SCRIPT.calls
    assert alpha_requests[0].messages == ({"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "What is symptom 0?"})
    assert quiet_requests[0].messages == ({"role": "user", "content": "What is symptom 0?"},)
    assert alpha_requests[0].sampling.max_tokens == 512


def test_limit_takes_the_first_questions(tmp_path: Path) -> None:
    config = project(tmp_path)
    summary, _ = generate(config, ["beta"], limit=2)
    assert summary.generated == 2
    assert sorted(r[2] for r in answer_rows(config)) == ["q0", "q1"]


def test_changing_a_setting_regenerates_only_that_model(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url)
    generate(config)
    before = answer_rows(config)
    models = [
        {"name": "alpha", "backend": "openai", "model": "a", "base_url": "http://x/v1", "sampling": {"temperature": 0.1}},
        {"name": "beta", "backend": "openai", "model": "b", "base_url": "http://y/v1", "max_concurrency": 2},
    ]
    config = project(tmp_path, storage=store_url, models=models)  # beta: transport options only, same answers
    summary, _ = generate(config)
    by_model = {m.model: m for m in summary.models}
    assert (by_model["alpha"].generated, by_model["alpha"].reused) == (5, 0)
    assert (by_model["beta"].generated, by_model["beta"].reused) == (0, 5)
    after = answer_rows(config)
    assert after[:10] == before  # old answers are kept, new ones added
    assert len(after) == 15


def test_changing_a_question_text_regenerates_that_answer(tmp_path: Path) -> None:
    config = project(tmp_path)
    generate(config)
    lines = (tmp_path / "questions.jsonl").read_text().splitlines()
    lines[2] = json.dumps({"id": "q2", "text": "A reworded question?", "category": "cardiology"})
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n")
    summary, _ = generate(config)
    assert (summary.generated, summary.reused) == (2, 8)
    store = open_store(config.storage_url)
    with store.connect() as c:
        assert c.execute(select(questions.c.text).where(questions.c.id == "q2")).scalar() == "A reworded question?"
    store.close()


def test_force_replaces_in_place_and_drops_what_judged_the_old_text(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url, questions_count=2)
    generate(config)
    before = {(r[1], r[2]): r[0] for r in answer_rows(config)}
    store = open_store(config.storage_url)
    with store.transaction() as c:
        judgment = dict(judge_key="k", question_id="q0", model_a="alpha", model_b="beta",
                        answer_a_id=before[("alpha", "q0")], answer_b_id=before[("beta", "q0")], judge="j",
                        rubric_id="r", rubric_version="1", prompt_version="1", raw_output="[RESULT] A",
                        verdict="A", valid=True, created_at=utcnow())
        ab = c.execute(judgments.insert().values(**judgment)).inserted_primary_key[0]
        kept = c.execute(judgments.insert().values(**{**judgment, "question_id": "q1",
                                                       "answer_a_id": before[("beta", "q1")],
                                                       "answer_b_id": before[("beta", "q1")]})).inserted_primary_key[0]
        c.execute(battles.insert().values(source="judge", model_a="alpha", model_b="beta", winner="model_a",
                                          judgment_ab_id=ab, dedup_key="d", tstamp=0.0))
    store.close()
    SCRIPT.fail = set()
    summary, _ = generate(config, ["alpha"], force=True)
    assert (summary.generated, summary.reused) == (2, 0)
    after = {(r[1], r[2]): r[0] for r in answer_rows(config)}
    assert after == before  # same rows, same ids
    store = open_store(config.storage_url)
    with store.connect() as c:
        assert [r.id for r in c.execute(select(judgments.c.id))] == [kept]
        assert c.execute(select(func.count()).select_from(battles)).scalar() == 0
    store.close()


def test_failed_answers_are_counted_and_retried_next_run(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url)
    SCRIPT.fail = {"q1", "q3"}
    summary, out = generate(config, ["alpha"])
    assert (summary.generated, summary.failed) == (3, 2)
    SCRIPT.fail = set()
    summary, _ = generate(config, ["alpha"])
    assert (summary.generated, summary.reused, summary.failed) == (2, 3, 0)
    assert [r.key for r in SCRIPT.calls[-1][1]] == ["q1", "q3"]


def test_a_crash_mid_model_keeps_finished_answers_and_other_models_run(tmp_path: Path) -> None:
    config = project(tmp_path)
    SCRIPT.die_after = 2
    summary, out = generate(config)
    alpha, beta = summary.models
    assert (alpha.generated, alpha.failed) == (2, 3) and (beta.generated, beta.failed) == (2, 3)
    assert alpha.error == "model 'alpha': RuntimeError: engine crashed"
    assert "alpha: failed: model 'alpha': RuntimeError: engine crashed" in out
    assert len(answer_rows(config)) == 4


def test_a_model_that_cannot_load_fails_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project(tmp_path)

    def factory(model: ModelConfig) -> ScriptedBackend:
        if model.name == "alpha":
            raise BackendError("model 'alpha': server at http://x/v1 unreachable after 2 attempt(s)")
        return SCRIPT.factory(model)

    summary = run_generate(config, backend_factory=factory, out=io.StringIO(), progress=False)
    alpha, beta = summary.models
    assert (alpha.failed, alpha.generated, beta.generated) == (5, 0, 5)
    assert summary.failed == 5
    assert "error: model 'alpha': server at http://x/v1 unreachable" in capsys.readouterr().err


def test_a_store_that_cannot_be_written_ends_the_run_at_the_first_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only, locked or full store fails every model alike: the next model's engine is not
    loaded only to fail the same way."""
    import arena.generate

    config = project(tmp_path, models=[{"name": name, "backend": "openai", "model": name, "base_url": "http://x/v1"}
                                       for name in ("alpha", "beta", "gamma")])

    def read_only(*_args: object) -> None:
        raise StoreError("store /tmp/arena.db: attempt to write a readonly database")

    monkeypatch.setattr(arena.generate, "start_run", read_only)
    out = io.StringIO()
    summary = run_generate(config, backend_factory=SCRIPT.factory, out=out, progress=False)
    assert [backend.name for backend in SCRIPT.made] == ["alpha"]  # beta's and gamma's never made
    alpha, beta, gamma = summary.models
    assert alpha.store_failed and alpha.failed == 5 and "readonly" in (alpha.error or "")
    assert beta.error == gamma.error == "not tried: the store cannot be written"
    assert summary.failed == 5 and "beta: failed: not tried" in out.getvalue()


def test_backend_is_closed_after_each_model(tmp_path: Path) -> None:
    config = project(tmp_path)
    made: list[ScriptedBackend] = []

    def factory(model: ModelConfig) -> ScriptedBackend:
        made.append(SCRIPT.factory(model))
        assert all(b.closed for b in made[:-1])  # the previous model was released first
        return made[-1]

    run_generate(config, backend_factory=factory, out=io.StringIO(), progress=False)
    assert [b.closed for b in made] == [True, True]


def test_unknown_model_name_is_a_config_error(tmp_path: Path) -> None:
    config = project(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown model 'gamma' \(known: alpha, beta\)"):
        generate(config, ["gamma"])


def test_load_current_answers_and_fingerprints(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url, questions_count=3)
    generate(config, ["alpha"])
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    current = load_current_answers(store, expected_fingerprints(config, config.models, question_list))
    store.close()
    assert sorted(current) == [("alpha", "q0"), ("alpha", "q1"), ("alpha", "q2")]
    stored = current[("alpha", "q1")]
    assert stored.text == "alpha: What is symptom 1?" and not stored.truncated and stored.completion_tokens == 4
    alpha, beta = config.models
    q0, q1, _ = question_list
    assert answer_fingerprint(config, alpha, q0) != answer_fingerprint(config, alpha, q1)
    assert answer_fingerprint(config, alpha, q0) != answer_fingerprint(config, beta, q0)
    assert chat_messages(config, alpha, q0)[0]["role"] == "system"


def test_sync_questions_is_idempotent(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url, questions_count=3)
    question_list = load_questions(config.questions)
    store = open_store(config.storage_url)
    sync_questions(store, question_list)
    sync_questions(store, question_list)
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(questions)).scalar() == 3
    store.close()


def test_questions_another_worker_adds_meanwhile_are_kept_once(tmp_path: Path, postgres_url: str) -> None:
    """Two `arena generate` workers starting together both find the questions missing and both
    add them: the second insert must skip the rows the first committed, not fail."""
    config = project(tmp_path, storage=postgres_url, questions_count=3)
    question_list = load_questions(config.questions)
    store, rival = open_store(config.storage_url), open_store(config.storage_url)
    raced: list[str] = []

    def rival_first(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO QUESTIONS") and not raced:
            raced.append(statement)
            sync_questions(rival, question_list)

    event.listen(store.engine, "before_cursor_execute", rival_first)
    sync_questions(store, question_list)
    assert raced
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(questions)).scalar() == 3
    store.close()
    rival.close()


def test_an_answer_stored_meanwhile_by_another_run_is_kept(tmp_path: Path, store_url: str) -> None:
    config = project(tmp_path, storage=store_url, questions_count=3)
    question_list = load_questions(config.questions)
    alpha = config.models[0]

    def racing(model: ModelConfig) -> ScriptedBackend:
        store = open_store(config.storage_url)
        with store.transaction() as c:  # another process finishes q1 first, after this run planned it
            c.execute(answers.insert().values(model="alpha", question_id="q1", text="theirs",
                                              fingerprint=answer_fingerprint(config, alpha, question_list[1]),
                                              created_at=utcnow()))
        store.close()
        return SCRIPT.factory(model)

    summary = run_generate(config, GenerateRequest(models=("alpha",)), backend_factory=racing, out=io.StringIO(),
                           progress=False)
    assert (summary.generated, summary.reused, summary.failed) == (2, 1, 0)
    texts = {r[2]: r[3] for r in answer_rows(config)}
    assert texts == {"q0": "alpha: What is symptom 0?", "q1": "theirs", "q2": "alpha: What is symptom 2?"}


def test_a_store_that_fails_while_saving_fails_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    import arena.store.answers

    config = project(tmp_path, questions_count=3)

    def broken_insert(*args: object, **kwargs: object) -> int:
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(arena.store.answers, "insert_answer", broken_insert)
    summary, out = generate(config, ["alpha"])
    (alpha,) = summary.models
    assert (alpha.generated, alpha.failed) == (0, 3)
    assert alpha.error is not None and "saving answers failed: cannot write to store" in alpha.error
    assert str(tmp_path / "arena.db") in alpha.error
    assert "database or disk is full" in alpha.error and "\n" not in alpha.error


def test_each_model_run_goes_into_the_cost_ledger(tmp_path: Path) -> None:
    """One run per model that loads a backend: the entry's GPUs (else the backend's), its answers and
    tokens, its price, the nightly session; a model with nothing to do records no run."""
    config = project(tmp_path, models=[
        {"name": "alpha", "backend": "openai", "model": "a", "base_url": "http://x/v1", "gpus": 4,
         "price_per_million_tokens": {"prompt": 1.0, "completion": 2.0}},
        {"name": "beta", "backend": "openai", "model": "b", "base_url": "http://x/v1"},
    ])
    made: list[ScriptedBackend] = []
    factory = ScriptedBackend.factory(lambda request: ScriptedReply(text="rest", prompt_tokens=3, completion_tokens=4),
                                      made, gpus=1)
    run_generate(config, GenerateRequest(session="night-7"), backend_factory=factory, out=io.StringIO(),
                 progress=False)
    store = open_store(config.storage_url)
    with store.connect() as c:
        rows = {r.name: r for r in c.execute(select(runs))}
    store.close()
    alpha, beta = rows["alpha"], rows["beta"]
    assert (alpha.kind, alpha.gpus, beta.gpus) == ("generate", 4, 1)  # declared, else the backend's count
    assert (alpha.items, alpha.prompt_tokens, alpha.completion_tokens) == (5, 15, 20)
    assert (alpha.price_prompt, alpha.price_completion, beta.price_prompt) == (1.0, 2.0, None)
    assert alpha.session == beta.session == "night-7" and alpha.finished_at is not None and alpha.wall_s >= 0
    run_generate(config, backend_factory=factory, out=io.StringIO(), progress=False)  # all answered: no backend
    store = open_store(config.storage_url)
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(runs)).scalar_one() == 2
    store.close()


def test_an_empty_answer_is_a_failure_never_stored(tmp_path: Path) -> None:
    config = project(tmp_path, questions_count=3)

    def factory(model: ModelConfig) -> ScriptedBackend:
        return ScriptedBackend(name=model.name, on_request=lambda request: "" if request.key == "q1" else " \n"
                               if request.key == "q2" else "fine")

    out = io.StringIO()
    summary = run_generate(config, GenerateRequest(models=("alpha",)), backend_factory=factory, out=out,
                           progress=False)
    assert (summary.generated, summary.failed) == (1, 2)
    assert [r[2] for r in answer_rows(config)] == ["q0"]


def test_a_server_answering_no_choices_stores_nothing(tmp_path: Path) -> None:
    from arena.generate import generate_for_model
    from tests.fakes.scripted_server import ScriptedServer

    with ScriptedServer(lambda prompt: ScriptedReply(raw_body='{"choices": []}')) as server:
        config = project(tmp_path, models=[{"name": "alpha", "backend": "openai", "model": "scripted",
                                            "base_url": server.base_url, "max_retries": 1}], questions_count=2)
        store = open_store(config.storage_url)
        try:
            questions_list = load_questions(config.questions)
            sync_questions(store, questions_list)
            summary = generate_for_model(store, config, config.model("alpha"), questions_list, progress=False)
        finally:
            store.close()
    assert (summary.generated, summary.failed) == (0, 2)
    assert answer_rows(config) == []
