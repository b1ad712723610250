"""What every backend shares: one-line errors, local paths (with ~), single-token stops."""

from __future__ import annotations

from pathlib import Path

from arena.backends.base import first_line, local_path, model_location, one_line, single_token_ids


def test_an_exception_is_one_line() -> None:
    error = RuntimeError("\n  \nthe engine died\nTraceback (most recent call last): ...")
    assert first_line(error) == "the engine died"
    assert one_line(error) == "RuntimeError: the engine died"
    assert one_line(ValueError()) == "ValueError"


def test_local_paths_expand_the_home_folder_and_leave_hub_ids_alone() -> None:
    home = Path("~").expanduser()
    assert local_path("~/models/llama") == home / "models" / "llama"
    assert model_location("~/models/llama") == str(home / "models" / "llama")
    assert local_path("./m") == Path("m") and local_path("/abs/m") == Path("/abs/m")
    assert local_path("meta-llama/Llama-3-8B") is None
    assert model_location("meta-llama/Llama-3-8B") == "meta-llama/Llama-3-8B"


def test_only_stop_strings_of_one_token_become_ids() -> None:
    vocabulary = {"<|eot_id|>": [7], "END": [1, 2], "gone": None}
    assert single_token_ids(["<|eot_id|>", "END", "gone"], vocabulary.__getitem__) == [7]
