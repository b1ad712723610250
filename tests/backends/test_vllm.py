"""The vLLM offline backend's pure parts; the engine itself runs in tests/test_generate_e2e.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from arena.backends.vllm import external_id, top_logprobs
from arena.config import ModelConfig
from arena.errors import BackendError


def test_missing_local_model_folder_fails_before_loading(tmp_path: Path) -> None:
    from arena.backends import make_backend

    entry = ModelConfig.model_validate({"name": "v", "backend": "vllm", "model": str(tmp_path / "nope")})
    with pytest.raises(BackendError, match=r"model 'v': model folder not found: .*nope"):
        make_backend(entry)


def test_external_ids() -> None:
    assert external_id("12-8f3c1e6f") == "12"
    assert external_id("12") == "12"


def test_top_logprobs_by_token_text() -> None:
    position = {7: SimpleNamespace(decoded_token="A", logprob=-0.1), 9: SimpleNamespace(decoded_token=None, logprob=-3)}
    assert top_logprobs([position]) == [{"A": -0.1, "9": -3.0}]
    assert top_logprobs(None) is None
