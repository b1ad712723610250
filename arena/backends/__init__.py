"""Backends: one factory from a model entry to something that generates.

Candidates and the judge (a `JudgeConfig` is a `ModelConfig`) go through `make_backend`. The
heavy libraries (vLLM, torch, OpenVINO) are imported only when a backend that needs them is made.
`base` holds the interface, the one sampling type and the helpers the backends share; `scripted`
is the in-process test double (tests and benchmarks only: `arena.yaml` cannot name it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.backends.base import Backend

if TYPE_CHECKING:  # the project file's types import `base`; this package needs them only as names
    from arena.config import ModelConfig


def make_backend(model: ModelConfig) -> Backend:
    """Load the model or connect to its server. Raises BackendError when that fails."""
    if model.backend == "openai":
        from arena.backends.openai import OpenAIBackend

        return OpenAIBackend(model)
    if model.backend == "vllm":
        from arena.backends.vllm import VllmBackend

        return VllmBackend(model)
    if model.backend == "transformers":
        from arena.backends.transformers import TransformersBackend

        return TransformersBackend(model)
    if model.backend == "openvino":
        from arena.backends.openvino import OpenVinoBackend

        return OpenVinoBackend(model)
    raise ValueError(f"unknown backend {model.backend!r}")  # pragma: no cover - validated in config
