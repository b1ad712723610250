"""GGUF files in the transformers backend: naming them, and the real SmolLM2 GGUF generating."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.transformers import Source, TransformersBackend, model_source
from arena.config import ModelConfig
from arena.errors import BackendError


def entry(model: str, **extra: object) -> ModelConfig:
    return ModelConfig.model_validate({"name": "gguf-hf", "backend": "transformers", "model": model, **extra})


def test_a_gguf_file_is_split_into_folder_and_file(tmp_path: Path) -> None:
    gguf = tmp_path / "Model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    assert model_source(str(gguf)) == Source(str(tmp_path), "Model.Q4_K_M.gguf")
    assert model_source(str(gguf)).options() == {"gguf_file": "Model.Q4_K_M.gguf"}
    assert model_source("m42-health/Llama3-Med42-8B") == Source("m42-health/Llama3-Med42-8B")
    assert model_source("m42-health/Llama3-Med42-8B").options() == {}
    assert model_source("QuantFactory/Llama3-Med42-8B-GGUF/Llama3-Med42-8B.Q4_K_M.gguf") == Source(
        "QuantFactory/Llama3-Med42-8B-GGUF", "Llama3-Med42-8B.Q4_K_M.gguf")


def test_a_missing_gguf_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"model 'gguf-hf': GGUF file not found: .*absent\.gguf"):
        make_backend(entry(str(tmp_path / "absent.gguf")))
    with pytest.raises(FileNotFoundError, match="a hub GGUF is org/repo/file.gguf"):
        model_source("file.gguf")


@pytest.fixture(scope="module")
def gguf_backend(smollm2_gguf: Path) -> Iterator[TransformersBackend]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # spin-waiting OpenMP threads crawl on a shared 2-core machine
    backend = make_backend(entry(str(smollm2_gguf), dtype="bfloat16", stop=["<|im_end|>"], batch_size=4))
    assert isinstance(backend, TransformersBackend)
    yield backend
    backend.close()
    torch.set_num_threads(threads)


@pytest.mark.e2e
def test_the_real_gguf_answers_in_english_through_its_own_chat_template(gguf_backend: TransformersBackend) -> None:
    assert str(gguf_backend.lm.dtype) == "torch.bfloat16"
    messages = ({"role": "system", "content": "You are a careful medical assistant."},
                {"role": "user", "content": "What is asthma?"})
    prompt = gguf_backend.prompt_text(GenerationRequest(key="p", sampling=SamplingSettings(), messages=messages))
    assert prompt.endswith("<|im_start|>user\nWhat is asthma?<|im_end|>\n<|im_start|>assistant\n")
    sampling = SamplingSettings(temperature=0.7, top_p=0.9, max_tokens=40, seed=0, stop=("<|im_end|>",))
    short = SamplingSettings(temperature=0, max_tokens=60, stop=("<|im_end|>",))
    requests = [GenerationRequest(key="asthma", sampling=sampling, messages=messages),
                GenerationRequest(key="hello", sampling=short, messages=(
                    {"role": "user", "content": "Say hello in five words."},))]
    results = {r.key: r for r in gguf_backend.generate(requests)}
    assert all(r.ok and r.engine and r.engine.startswith("transformers ") for r in results.values())
    assert "asthma" in results["asthma"].text.lower()
    assert results["hello"].finish_reason == "stop" and results["hello"].completion_tokens < 60  # <|im_end|>
    assert all("<|im_end|>" not in r.text for r in results.values())
