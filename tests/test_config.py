"""The project file: validation errors name the file and field; paths resolve beside the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arena.config import DEFAULT_RUBRIC, DEFAULT_SYSTEM_PROMPT, load_config
from arena.errors import ConfigError
from arena.files import PACKAGE_DATA, resolve_path

MODEL = {"name": "m", "backend": "vllm", "model": "org/model"}


def write(tmp_path: Path, data: object, name: str = "arena.yaml") -> Path:
    (tmp_path / "q.jsonl").write_text('{"id": "q1", "text": "Why?", "category": "cardiology"}\n')
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def base(**overrides: object) -> dict[str, object]:
    return {"questions": "q.jsonl", "models": [dict(MODEL)], **overrides}


def test_minimal_project_and_its_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base()))
    model = config.models[0]
    assert config.questions == [tmp_path / "q.jsonl"]
    assert config.rubric == resolve_path(DEFAULT_RUBRIC) == PACKAGE_DATA / "rubrics" / "medical.yaml"
    assert config.storage_url == f"sqlite:///{tmp_path / 'arena.db'}"
    assert config.system_prompt_for(model) == DEFAULT_SYSTEM_PROMPT
    assert (model.sampling.temperature, model.sampling.max_tokens, model.tensor_parallel_size) == (0.7, 512, 1)


def test_paths_resolve_against_the_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.jinja").write_text("{{ messages }}")
    data = base(models=[{**MODEL, "model": "./weights", "chat_template": "templates/t.jinja"}],
                rubric="../rubric.yaml")
    path = write(tmp_path, data)
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.models[0].model == str(tmp_path / "weights")
    assert config.models[0].chat_template == tmp_path / "templates" / "t.jinja"
    assert config.models[0].chat_template_text() == "{{ messages }}"
    assert config.rubric == tmp_path / ".." / "rubric.yaml"


def test_hub_ids_are_left_alone(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base(models=[{**MODEL, "model": "m42-health/Llama3-Med42-8B"}])))
    assert config.models[0].model == "m42-health/Llama3-Med42-8B"


def test_adaptive_pairs_settings_reach_the_planner(tmp_path: Path) -> None:
    from arena.judge.adaptive import AdaptiveSettings
    from arena.judge.rounds import adaptive_settings

    assert adaptive_settings(load_config(write(tmp_path, base()))) == AdaptiveSettings()  # the same defaults
    config = load_config(write(tmp_path, base(pairs={"mode": "adaptive", "tie_margin_elo": 25.5,
                                                     "stop_when_settled": False})))
    settings = adaptive_settings(config)
    assert (settings.tie_margin_elo, settings.stop_when_settled) == (25.5, False)


def test_system_prompt_global_override_and_empty(tmp_path: Path) -> None:
    data = base(system_prompt="Global.", models=[
        dict(MODEL), {**MODEL, "name": "own", "system_prompt": "Own."}, {**MODEL, "name": "none", "system_prompt": ""},
    ])
    config = load_config(write(tmp_path, data))
    assert [config.system_prompt_for(m) for m in config.models] == ["Global.", "Own.", ""]


@pytest.mark.parametrize(("data", "message"), [
    ("models: [\n  - name: a\n   backend: x\n", r"arena\.yaml:\d+:\d+: malformed YAML"),
    ("- just\n- a list\n", "expected a mapping of settings at the top level"),
    (base(models=[{**MODEL, "backend": "ollama"}]),
     r"models\[0\] \(m\)\.backend: Input should be 'vllm', 'openai', 'transformers' or 'openvino'"),
    (base(questions="missing.jsonl"), r"questions: file not found: .*missing\.jsonl"),
    (base(models=[{**MODEL, "sampling": {"temperature": -0.5}}]), r"models\[0\] \(m\)\.sampling\.temperature"),
    (base(models=[{**MODEL, "sampling": {"top_p": 0}}]), r"sampling\.top_p: Input should be greater than 0"),
    (base(models=[{**MODEL, "sampling": {"top_k": 0}}]), r"sampling\.top_k: must be -1 \(disabled\) or a positive"),
    (base(models=[{**MODEL, "sampling": {"max_tokens": 0}}]), r"sampling\.max_tokens"),
    (base(models=[{**MODEL, "sampling": {"temprature": 0.1}}]), r"sampling\.temprature: Extra inputs are not permitted"),
    (base(models=[{**MODEL, "backend": "openai"}]), "the openai backend needs base_url"),
    (base(models=[{**MODEL, "chat_template": "nope.jinja"}]), "chat_template file not found"),
    (base(models=[dict(MODEL), dict(MODEL)]), "duplicate model names: m"),
    (base(models=[{**MODEL, "api_key_env": "sk-123 secret"}]), r"api_key_env: String should match pattern"),
    (base(models=[]), "models: List should have at least 1 item"),
    (base(pairs={"mode": "adaptive", "tie_margin_elo": -5}),
     r"pairs\.tie_margin_elo: Input should be greater than or equal to 0"),
    (base(pairs={"stop_when_settled": "sometimes"}), r"pairs\.stop_when_settled: Input should be a valid boolean"),
])
def test_bad_projects_get_one_line_errors(tmp_path: Path, data: object, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(str(path))


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="project file not found"):
        load_config(tmp_path / "arena.yaml")


def test_answer_fingerprint_covers_what_shapes_answers_only(tmp_path: Path) -> None:
    def fingerprint_of(**changes: object) -> str:
        config = load_config(write(tmp_path, base(models=[{**MODEL, **changes}])))
        return config.answer_fingerprint(config.models[0])

    reference = fingerprint_of()
    for shaping in ({"sampling": {"temperature": 0.1}}, {"stop": ["<|eot_id|>"]}, {"dtype": "bfloat16"},
                    {"revision": "abc"}, {"quantization": "gptq"}, {"system_prompt": "Other."},
                    {"max_model_len": 4096}, {"model": "org/other"}):
        assert fingerprint_of(**shaping) != reference, shaping
    for transport in ({"gpu_memory_utilization": 0.5}, {"tensor_parallel_size": 2}, {"max_concurrency": 1},
                      {"timeout": 5}, {"batch_size": 2}, {"enable_prefix_caching": False}):
        assert fingerprint_of(**transport) == reference, transport


def test_template_text_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text("one")
    config = load_config(write(tmp_path, base(models=[{**MODEL, "chat_template": "t.jinja"}])))
    before = config.answer_fingerprint(config.models[0])
    template.write_text("two")
    assert config.answer_fingerprint(config.models[0]) != before
