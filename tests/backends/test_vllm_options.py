"""The vLLM engine's parallelism options: validated at load time, passed to the engine as given."""

from __future__ import annotations

from typing import Any

import pytest

from arena.backends.vllm import VllmBackend
from arena.config import ModelConfig
from arena.errors import ConfigError


def entry(**options: Any) -> ModelConfig:
    return ModelConfig.model_validate({"name": "big", "backend": "vllm", "model": "org/big-72b", **options})


def engine_options(model: ModelConfig) -> dict[str, Any]:
    backend = object.__new__(VllmBackend)  # the options the engine would get, without starting one
    backend.model, backend.on_cpu = model, False
    return backend.engine_options()


def test_parallelism_reaches_the_engine() -> None:
    options = engine_options(entry(tensor_parallel_size=4, pipeline_parallel_size=2,
                                   distributed_executor_backend="ray"))
    assert (options["tensor_parallel_size"], options["pipeline_parallel_size"]) == (4, 2)
    assert options["distributed_executor_backend"] == "ray"
    defaults = engine_options(entry())
    assert (defaults["tensor_parallel_size"], defaults["pipeline_parallel_size"]) == (1, 1)
    assert "distributed_executor_backend" not in defaults  # vLLM picks


@pytest.mark.parametrize(("options", "message"), [
    ({"pipeline_parallel_size": 0}, "greater than or equal to 1"),
    ({"distributed_executor_backend": "slurm"}, "'mp', 'ray' or 'uni'"),
    ({"data_parallel_size": 8}, "cannot replicate itself; run one `arena judge`"),
    ({"distributed_executor_backend": "uni", "tensor_parallel_size": 2}, "uni runs one process"),
    ({"backend": "openai", "base_url": "http://h/v1", "pipeline_parallel_size": 2}, "apply to backend vllm"),
])
def test_what_vllm_would_refuse_is_said_at_load_time(options: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, ConfigError), match=message):
        entry(**options)


def test_parallelism_is_not_part_of_the_answer_settings() -> None:
    assert entry().answer_settings("") == entry(tensor_parallel_size=4, pipeline_parallel_size=2,
                                                distributed_executor_backend="mp").answer_settings("")
