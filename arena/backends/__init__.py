"""Backends: one factory from a model entry to something that generates.

Candidates and the judge (a `JudgeConfig` is a `ModelConfig`) go through `make_backend`. The
heavy libraries (vLLM, torch, OpenVINO) are imported only when a backend that needs them is made.
"""

from __future__ import annotations

from arena.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    SamplingSettings,
)
from arena.config import ModelConfig

__all__ = [
    "Backend",
    "GenerationRequest",
    "GenerationResult",
    "SamplingSettings",
    "make_backend",
    "sampling_for",
]


def sampling_for(model: ModelConfig) -> SamplingSettings:
    """The entry's sampling settings and stop strings as one backend-neutral value."""
    sampling = model.sampling
    return SamplingSettings(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        repetition_penalty=sampling.repetition_penalty,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed,
        stop=tuple(model.stop),
    )


def make_backend(model: ModelConfig) -> Backend:
    """Load the model or connect to its server. Raises BackendError when that fails."""
    if model.backend == "openai":
        from arena.backends.openai_http import OpenAIBackend

        return OpenAIBackend(model)
    if model.backend == "vllm":
        from arena.backends.vllm_offline import VllmBackend

        return VllmBackend(model)
    if model.backend == "transformers":
        from arena.backends.transformers_local import TransformersBackend

        return TransformersBackend(model)
    if model.backend == "openvino":
        from arena.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(model)
    raise ValueError(f"unknown backend {model.backend!r}")  # pragma: no cover - validated in config
