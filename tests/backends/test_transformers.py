"""The transformers backend on the tiny local models (CPU, no engine start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from arena.backends import make_backend
from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.transformers import TransformersBackend
from arena.config import ModelConfig
from arena.errors import BackendError
from arena.files import resolve_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Two spin-waiting OpenMP threads crawl on a shared 2-core machine; one is steady."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def entry(model_dir: Path, **extra: object) -> ModelConfig:
    values: dict[str, object] = {"name": "tiny-hf", "backend": "transformers", "model": str(model_dir),
                                 "dtype": "bfloat16", "stop": ["<|eot_id|>"], "batch_size": 3,
                                 "sampling": {"max_tokens": 12, "seed": 0}}
    values.update(extra)
    return ModelConfig.model_validate(values)


def ask(text: str, sampling: SamplingSettings, key: str | None = None) -> GenerationRequest:
    return GenerationRequest(key=key or text, sampling=sampling,
                             messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": text}))


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> TransformersBackend:
    made = make_backend(entry(tiny_model_dir))
    assert isinstance(made, TransformersBackend)
    return made


def test_answers_every_request_in_batches(backend: TransformersBackend) -> None:
    sampling = backend.model.sampling_settings()
    requests = [ask(f"question {i} " * (i + 1), sampling, key=f"q{i}") for i in range(7)]
    results = list(backend.generate(requests))
    assert sorted(r.key for r in results) == sorted(r.key for r in requests)
    for result in results:
        assert result.ok and result.engine and result.engine.startswith("transformers ")
        assert 1 <= (result.completion_tokens or 0) <= 12 and (result.prompt_tokens or 0) > 5
        assert result.truncated == (result.finish_reason == "length")
        assert "<|eot_id|>" not in result.text


def test_chat_prompt_has_one_bos(backend: TransformersBackend) -> None:
    prompt = backend.prompt_text(ask("hi", SamplingSettings()))
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system")
    ids = backend.tokenizer(prompt, add_special_tokens=not backend._template_adds_bos([(None, prompt)]))["input_ids"]  # type: ignore[list-item]
    assert ids.count(backend.tokenizer.bos_token_id) == 1


def test_same_seed_same_answer(backend: TransformersBackend) -> None:
    sampling = SamplingSettings(temperature=0.8, max_tokens=10, seed=42)
    first = [r.text for r in backend.generate([ask("fever?", sampling)])]
    second = [r.text for r in backend.generate([ask("fever?", sampling)])]
    assert first == second


def test_max_tokens_flags_truncation_and_greedy_runs(backend: TransformersBackend) -> None:
    (result,) = backend.generate([ask("long", SamplingSettings(temperature=0, max_tokens=3))])
    assert result.completion_tokens <= 3
    if result.completion_tokens == 3 and result.finish_reason == "length":
        assert result.truncated


def test_text_stop_strings_cut_the_answer(backend: TransformersBackend) -> None:
    (free,) = backend.generate([ask("x", SamplingSettings(temperature=0, max_tokens=12))])
    assert len(free.text) > 4
    stop = free.text[2:4]
    (cut,) = backend.generate([ask("x", SamplingSettings(temperature=0, max_tokens=12, stop=(stop,)))])
    assert cut.finish_reason == "stop" and stop not in cut.text and free.text.startswith(cut.text)


def test_raw_prompt_with_logprobs(backend: TransformersBackend) -> None:
    request = GenerationRequest(key="raw", prompt="[INST] judge [/INST]", logprobs=3,
                                sampling=SamplingSettings(temperature=0, max_tokens=4))
    (result,) = backend.generate([request])
    assert result.ok and result.top_logprobs is not None
    assert len(result.top_logprobs) == result.completion_tokens
    assert all(len(p) >= 1 and all(v <= 0 for v in p.values()) for p in result.top_logprobs)
    assert not backend.supports_regex and backend.supports_logprobs


def test_template_file_is_used(tiny_judge_dir: Path) -> None:
    template = resolve_path("arena:templates/meditron-chatml.jinja")
    backend = make_backend(entry(tiny_judge_dir, chat_template=str(template), stop=["<|im_end|>"]))
    assert isinstance(backend, TransformersBackend)
    prompt = backend.prompt_text(ask("Q?", SamplingSettings()))
    assert prompt == "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    (result,) = backend.generate([ask("Q?", backend.model.sampling_settings())])
    assert result.ok and "<|im_end|>" not in result.text
    backend.close()


def test_a_template_that_rejects_the_messages_fails_that_request(tiny_judge_dir: Path) -> None:
    backend = make_backend(entry(tiny_judge_dir, stop=[]))  # Mistral template: no system role
    results = list(backend.generate([ask("Q?", SamplingSettings(max_tokens=2))]))
    assert len(results) == 1 and results[0].error and results[0].error.startswith("chat template:")
    backend.close()


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"model 'tiny-hf': model folder not found: .*nope"):
        make_backend(entry(tmp_path / "nope"))


def test_unloadable_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackendError, match=r"model 'tiny-hf': transformers could not load"):
        make_backend(entry(tmp_path))
