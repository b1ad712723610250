"""The OpenVINO backend: its pure parts without a model, then the real SmolLM2 IR and GGUF."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.openvino import OpenVinoBackend, Pending, finish_reason, model_path, ov_message
from arena.config import ModelConfig
from arena.errors import BackendError

HAS_OPENVINO = importlib.util.find_spec("openvino_genai") is not None
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="openvino-genai is not installed")


def entry(model: str | Path, **extra: Any) -> ModelConfig:
    return ModelConfig.model_validate({"name": "ov", "backend": "openvino", "model": str(model), **extra})


# --- pure parts ---------------------------------------------------------------------------------


def test_the_entry_must_name_an_ir_folder_or_a_gguf_file(tmp_path: Path) -> None:
    (tmp_path / "ir").mkdir()
    (tmp_path / "ir" / "openvino_model.xml").write_text("<net/>")
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    (tmp_path / "model.bin").write_bytes(b"x")
    assert model_path(entry(tmp_path / "ir")) == tmp_path / "ir"
    assert model_path(entry(tmp_path / "model.gguf")) == tmp_path / "model.gguf"
    with pytest.raises(BackendError, match="not an OpenVINO IR folder"):
        model_path(entry(tmp_path / "empty"))
    with pytest.raises(BackendError, match="neither an OpenVINO IR folder nor a .gguf file"):
        model_path(entry(tmp_path / "model.bin"))
    with pytest.raises(BackendError, match="OpenVINO model not found: fakezeta/Llama3"):
        model_path(entry("fakezeta/Llama3-Aloe-8B-Alpha-ov-int8"))


@needs_openvino
def test_a_broken_ir_is_a_one_line_backend_error(tmp_path: Path) -> None:
    (tmp_path / "openvino_model.xml").write_text("<net>not a model</net>")
    with pytest.raises(BackendError, match=r"model 'ov': OpenVINO could not load") as caught:
        make_backend(entry(tmp_path))
    assert "\n" not in str(caught.value)


def test_openvino_errors_keep_their_informative_line() -> None:
    raised = RuntimeError("Exception from src/cpp/src/tokenizer_impl.cpp:855:\n"
                          "Minja failed to apply chat template. no system at row 1\n  ^\n")
    assert ov_message(raised) == "RuntimeError: Minja failed to apply chat template. no system at row 1"
    assert ov_message(ValueError("plain")) == "ValueError: plain"


def test_finish_reasons_use_the_common_words() -> None:
    assert finish_reason(SimpleNamespace(name="STOP")) == "stop"
    assert finish_reason(SimpleNamespace(name="LENGTH")) == "length"
    assert finish_reason(SimpleNamespace(name="NONE")) is None
    assert finish_reason(SimpleNamespace(name="TOOL_CALL")) == "tool_call"


def bare_backend() -> OpenVinoBackend:
    """The backend's methods without a loaded model."""
    import openvino_genai

    backend = object.__new__(OpenVinoBackend)
    backend.ov = openvino_genai
    backend.eos_token_id = 2
    backend.engine = "openvino-genai test"
    return backend


def request(sampling: SamplingSettings, regex: str | None = None) -> GenerationRequest:
    return GenerationRequest(key="k", sampling=sampling, prompt="p", regex=regex)


@needs_openvino
def test_sampling_settings_become_a_generation_config() -> None:
    backend = bare_backend()
    sampling = SamplingSettings(temperature=0.6, top_p=0.9, top_k=20, repetition_penalty=1.1, max_tokens=77,
                                seed=5, stop=("<|im_end|>", "\n\n"))
    config = backend.generation_config(request(sampling, regex=r"[AB]"), frozenset({2, 7}))
    assert config.do_sample and config.temperature == pytest.approx(0.6) and config.top_p == pytest.approx(0.9)
    assert (config.top_k, config.max_new_tokens, config.rng_seed) == (20, 77, 5)
    assert config.repetition_penalty == pytest.approx(1.1)
    assert config.stop_strings == {"<|im_end|>", "\n\n"} and not config.include_stop_str_in_output
    assert config.stop_token_ids == {2, 7} and config.eos_token_id == 2
    assert config.structured_output_config.regex == "[AB]"


@needs_openvino
def test_greedy_and_unseeded_settings() -> None:
    backend = bare_backend()
    greedy = backend.generation_config(request(SamplingSettings(temperature=0, max_tokens=5)), frozenset({2}))
    assert not greedy.do_sample and greedy.stop_strings == set()
    unseeded = {backend.generation_config(request(SamplingSettings(top_k=-1)), frozenset({2})).rng_seed
                for _ in range(5)}
    assert len(unseeded) > 1  # OpenVINO's own default seed would make every unseeded run identical
    default_top_k = backend.generation_config(request(SamplingSettings(top_k=-1)), frozenset({2})).top_k
    assert default_top_k > 10**9  # top-k disabled: OpenVINO's "all tokens"


class FakeTokenizer:
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        words = {2: "<|im_end|>", 5: "Rest", 6: " well", 7: ".", 8: "\n\n", 9: " More"}
        return "".join(words[i] for i in ids if not (skip_special_tokens and i == 2))


def finished(ids: list[int], reason: str, stop: tuple[str, ...] = ()) -> Any:
    backend = bare_backend()
    backend.tokenizer = FakeTokenizer()
    output = SimpleNamespace(generated_ids=ids, finish_reason=SimpleNamespace(name=reason))
    handle = SimpleNamespace(read_all=lambda: [output])
    item = Pending(request=request(SamplingSettings(stop=stop)), handle=handle, prompt_tokens=11,
                   stop_ids=frozenset({2, 8}))
    return backend.result(item, backend.ov.GenerationStatus.FINISHED, 0.5)


@needs_openvino
def test_results_drop_a_final_stop_token_and_count_it() -> None:
    result = finished([5, 6, 8], "STOP", stop=("\n\n",))
    assert (result.text, result.finish_reason, result.completion_tokens, result.prompt_tokens) == (
        "Rest well", "stop", 3, 11)
    assert finished([5, 6, 2], "STOP").text == "Rest well"
    assert finished([5, 6, 9], "LENGTH").truncated


@needs_openvino
def test_a_stop_string_left_in_the_text_is_cut() -> None:
    result = finished([5, 7, 9, 6], "LENGTH", stop=(".",))
    assert (result.text, result.finish_reason) == ("Rest", "stop")


@needs_openvino
def test_a_request_the_pipeline_dropped_is_an_error() -> None:
    backend = bare_backend()
    item = Pending(request=request(SamplingSettings()), handle=None, prompt_tokens=1, stop_ids=frozenset())
    result = backend.result(item, backend.ov.GenerationStatus.IGNORED, 0.1)
    assert not result.ok and "ignored" in (result.error or "")


# --- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_ov(smollm2_openvino_dir: Path) -> Iterator[OpenVinoBackend]:
    backend = make_backend(entry(smollm2_openvino_dir, stop=["<|im_end|>"], batch_size=4, max_model_len=512))
    assert isinstance(backend, OpenVinoBackend)
    yield backend
    backend.close()


def ask(key: str, text: str, sampling: SamplingSettings) -> GenerationRequest:
    return GenerationRequest(key=key, sampling=sampling, messages=(
        {"role": "system", "content": "You are a careful medical assistant."}, {"role": "user", "content": text}))


@pytest.mark.e2e
def test_the_model_template_renders_chatml(smollm2_ov: OpenVinoBackend) -> None:
    prompt = smollm2_ov.prompt_text(ask("k", "Hi", SamplingSettings()))
    assert prompt == ("<|im_start|>system\nYou are a careful medical assistant.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    ids = smollm2_ov.prompt_tensor(prompt).data[0].tolist()
    assert ids[0] == 1 and ids.count(1) == 3  # <|im_start|> three times, no extra BOS in front


@pytest.mark.e2e
def test_real_answers_seeds_stops_and_regex(smollm2_ov: OpenVinoBackend) -> None:
    sampling = SamplingSettings(temperature=0.7, top_p=0.9, max_tokens=48, seed=1, stop=("<|im_end|>",))
    cut = SamplingSettings(temperature=0, max_tokens=48, stop=("<|im_end|>", "blood"))
    requests = [ask("stroke", "What is a stroke?", sampling), ask("asthma", "How is asthma treated?", sampling),
                ask("cut", "What is a stroke?", cut), ask("again", "What is a stroke?", sampling),
                GenerationRequest(key="judge", prompt="[INST] Is rest or a doctor better for chest pain? [/INST]",
                                  regex=r"[ -~]{1,40} \[RESULT\] (A|B)",
                                  sampling=SamplingSettings(temperature=1.0, max_tokens=60, seed=3))]
    results = {r.key: r for r in smollm2_ov.generate(requests)}
    assert set(results) == {"stroke", "asthma", "cut", "again", "judge"}
    assert all(r.ok and r.engine and r.engine.startswith("openvino-genai ") for r in results.values())
    assert "stroke" in results["stroke"].text.lower() and "asthma" in results["asthma"].text.lower()
    assert results["again"].text == results["stroke"].text  # same seed, same answer
    assert "blood" not in results["cut"].text and results["cut"].finish_reason == "stop"
    assert re.fullmatch(r"[ -~]{1,40} \[RESULT\] (A|B)", results["judge"].text), results["judge"].text
    for result in results.values():
        assert "<|im_end|>" not in result.text and "<|im_start|>" not in result.text
        assert result.prompt_tokens and result.prompt_tokens > 10
        assert 1 <= (result.completion_tokens or 0) <= 60


@pytest.mark.e2e
def test_bad_requests_fail_alone(smollm2_ov: OpenVinoBackend, tmp_path: Path) -> None:
    long = ask("long", "pain " * 600, SamplingSettings(max_tokens=8))
    fine = ask("fine", "What is a fever?", SamplingSettings(max_tokens=8, seed=0))
    results = {r.key: r for r in smollm2_ov.generate([long, fine])}
    assert "exceeds max_model_len 512" in (results["long"].error or "")
    assert results["fine"].ok and results["fine"].text


@pytest.mark.e2e
def test_a_gguf_file_loads_directly(smollm2_gguf: Path) -> None:
    if not HAS_OPENVINO:
        pytest.skip("openvino-genai is not installed")
    backend = make_backend(entry(smollm2_gguf, stop=["<|im_end|>"]))
    try:
        (result,) = backend.generate([ask("k", "What is asthma?", SamplingSettings(temperature=0, max_tokens=24))])
        assert result.ok and "asthma" in result.text.lower()
    finally:
        backend.close()
