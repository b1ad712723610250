"""The shipped example projects: valid, faithful to the model cards, and their templates render.

Each entry's chat template is rendered with a locally built tiny tokenizer that has the same
special tokens as the real one (Llama 3, ChatML; Llama 2-style <s>/</s> for Meditron's template
file), and its stop strings are checked against that tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.answers import chat_messages
from arena.backends.base import local_path, render_chat_template
from arena.config import ArenaConfig, ModelConfig, load_config
from arena.files import resolve_path
from arena.questions.schema import Question

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
QUESTION = Question(id="t1", text="What should I do about chest pain that spreads to my arm?",
                    category="cardiology")
ASSISTANT_HEADER = {
    "llama3": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "chatml": "<|im_start|>assistant\n",
}

# What the issue and the model cards say each seed model needs: (stops, sampling subset).
CARD_SETTINGS = {
    "HPAI-BSC/Llama3-Aloe-8B-Alpha": (["<|eot_id|>", "<|end_of_text|>"], {"temperature": 0.6, "top_p": 0.9}),
    # no sampling settings taken from these cards: the project defaults
    "HPAI-BSC/Llama3.1-Aloe-Beta-8B": (["<|eot_id|>", "<|end_of_text|>"], {"temperature": 0.7, "top_p": 1.0}),
    "HPAI-BSC/Llama3.1-Aloe-Beta-70B": (["<|eot_id|>", "<|end_of_text|>"], {"temperature": 0.7, "top_p": 1.0}),
    "HPAI-BSC/Qwen2.5-Aloe-Beta-7B": (["<|im_end|>"], {"temperature": 0.7, "top_p": 0.8, "top_k": 20,
                                                       "repetition_penalty": 1.05}),
    "HPAI-BSC/Qwen2.5-Aloe-Beta-72B": (["<|im_end|>"], {"temperature": 0.7, "top_p": 0.8, "top_k": 20,
                                                        "repetition_penalty": 1.05}),
    "m42-health/Llama3-Med42-8B": (["<|eot_id|>", "<|end_of_text|>"],
                                   {"temperature": 0.4, "top_k": 150, "top_p": 0.75, "max_tokens": 512}),
}


def flavour(model: ModelConfig) -> str:
    """Which tokenizer family an entry uses: its template file, or its end-of-turn token."""
    if model.chat_template is not None:
        return "template-file"
    return "llama3" if "<|eot_id|>" in model.stop else "chatml"


def all_entries() -> list[tuple[str, ArenaConfig, ModelConfig]]:
    entries = []
    for path in EXAMPLE_FILES:
        config = load_config(path)
        entries += [(f"{path.name}:{m.name}", config, m) for m in config.models]
    return entries


ENTRIES = all_entries()


def test_there_are_example_projects() -> None:
    assert {p.name for p in EXAMPLE_FILES} >= {"seed-models.yaml", "servers.yaml", "laptop-cpu.yaml"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_is_a_valid_project_with_existing_files(path: Path) -> None:
    config = load_config(path)
    assert all(q.is_file() for q in config.questions)
    assert config.rubric == resolve_path("arena:rubrics/medical.yaml")
    assert config.rubric.is_file()
    for model in config.models:
        assert model.chat_template is None or model.chat_template.is_file()
        assert model.stop, f"{model.name}: every seed model needs its end-of-turn stop"


def test_every_seed_model_has_an_entry() -> None:
    models = {m.model for _, _, m in ENTRIES} | {m.quantization or "" for _, _, m in ENTRIES}
    for needed in ("HPAI-BSC/Llama3-Aloe-8B-Alpha", "HPAI-BSC/Qwen2.5-Aloe-Beta-72B", "HPAI-BSC/Qwen2.5-Aloe-Beta-7B",
                   "HPAI-BSC/Llama3.1-Aloe-Beta-8B", "HPAI-BSC/Llama3.1-Aloe-Beta-70B",
                   "m42-health/Llama3-Med42-8B", "epfl-llm/meditron-7b", "TheBloke/meditron-7B-GPTQ"):
        assert needed in models, needed
    servers = load_config(EXAMPLES / "servers.yaml")
    assert {m.backend for m in servers.models} == {"openai"}
    assert any("gguf" in (m.quantization or "") for m in servers.models)  # llama.cpp: Med42 GGUF
    assert any("openvino" in (m.quantization or "") for m in servers.models)  # LocalAI: Aloe OV int8
    assert any(m.quantization == "gptq" and m.chat_template for m in servers.models)  # TGI: Meditron
    laptop = load_config(EXAMPLES / "laptop-cpu.yaml")
    assert any(m.backend == "openvino" and m.quantization == "openvino-int8" for m in laptop.models)  # Aloe OV
    assert any(m.backend == "transformers" and m.model.endswith(".gguf") for m in laptop.models)  # Med42 GGUF


def model_blocks(path: Path) -> dict[str, str]:
    """Each model entry's text in an example file, by name (an entry runs to the next one)."""
    text = path.read_text(encoding="utf-8").split("\nmodels:\n", 1)[1].split("\njudge:", 1)[0]
    blocks = ("\n" + text).split("\n  - name: ")[1:]
    return {block.split("\n", 1)[0].strip(): block for block in blocks}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_entry_cites_its_model_card(path: Path) -> None:
    config = load_config(path)
    blocks = model_blocks(path)
    assert set(blocks) == {m.name for m in config.models}
    for model in config.models:
        block = blocks[model.name]
        assert "https://huggingface.co/" in block, f"{path.name}:{model.name} cites no model card"
        if "/" in model.model and local_path(model.model) is None:  # a hub id: its own card
            assert f"https://huggingface.co/{model.model}" in block or "card" in block.split("sampling:")[1]
        sampling = block.split("sampling:", 1)[1]
        assert "card" in sampling or "https://huggingface.co/" in sampling or "as for" in sampling, (
            f"{path.name}:{model.name}: say where the sampling settings come from")


@pytest.mark.parametrize(("model_id", "card"), CARD_SETTINGS.items(), ids=list(CARD_SETTINGS))
def test_card_settings(model_id: str, card: tuple[list[str], dict[str, float]]) -> None:
    stops, sampling = card
    entries = [m for _, _, m in ENTRIES if m.model == model_id]
    assert entries, model_id
    for model in entries:
        assert model.stop == stops
        assert {k: getattr(model.sampling, k) for k in sampling} == sampling
    if model_id.endswith(("70B", "72B")):
        assert all(m.tensor_parallel_size > 1 for m in entries)


def test_meditron_gptq_entries() -> None:
    gptq = [m for _, _, m in ENTRIES if m.quantization == "gptq"]
    assert {m.backend for m in gptq} == {"vllm", "openai"}
    assert all(m.chat_template is not None and m.chat_template.name == "meditron-chatml.jinja" for m in gptq)


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir: Path, tiny_chatml_model_dir: Path, tiny_judge_dir: Path) -> dict[str, object]:
    from transformers import AutoTokenizer

    return {
        "llama3": AutoTokenizer.from_pretrained(tiny_model_dir),
        "chatml": AutoTokenizer.from_pretrained(tiny_chatml_model_dir),
        "template-file": AutoTokenizer.from_pretrained(tiny_judge_dir),  # <s> and </s>, like Llama 2
    }


@pytest.mark.parametrize(("label", "config", "model"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_template_renders_system_prompt_question_and_assistant_turn(
    label: str, config: ArenaConfig, model: ModelConfig, tokenizers: dict[str, object]
) -> None:
    kind = flavour(model)
    tokenizer = tokenizers[kind]
    messages = list(chat_messages(config, model, QUESTION))
    prompt = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
        messages, tokenize=False, add_generation_prompt=True, chat_template=model.chat_template_text()
    )
    assert config.system_prompt_for(model) in prompt
    assert QUESTION.text in prompt
    if kind == "template-file":
        assert prompt.startswith("<s><|im_start|>system\n")
        assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
        # over HTTP arena renders the same text itself, leaving BOS to the server
        assert render_chat_template(model.chat_template_text() or "", messages) == prompt.removeprefix("<s>")
    else:
        assert prompt.endswith(ASSISTANT_HEADER[kind])


@pytest.mark.parametrize(("label", "config", "model"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_stop_strings_end_the_turn_for_that_tokenizer(
    label: str, config: ArenaConfig, model: ModelConfig, tokenizers: dict[str, object]
) -> None:
    kind = flavour(model)
    tokenizer = tokenizers[kind]
    if kind == "template-file":
        # the template's own end-of-turn marker, plain text to Llama 2's tokenizer
        assert "<|im_end|>" in (model.chat_template_text() or "") and model.stop == ["<|im_end|>"]
        return
    special = set(tokenizer.all_special_tokens)  # type: ignore[attr-defined]
    for stop in model.stop:
        assert stop in special, f"{label}: {stop} is not a special token of the {kind} tokenizer"
