"""Tiny random-weight chat models, built locally, for tests and the offline smoke demo.

Model hubs are unreachable in CI, so the project makes its own models: a transformers config with
random weights and a byte-level BPE tokenizer trained on a few sentences, carrying the special
tokens and chat template of a real family (Llama 3, ChatML/Qwen2, Mistral). They answer gibberish,
fast, through exactly the code paths real models use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Flavour = Literal["llama3", "chatml", "mistral"]

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Like Mistral-7B-Instruct-v0.2 (Prometheus 2's base): no system role.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported') }}{% endif %}"
    "{% endfor %}"
)


@dataclass(frozen=True)
class FlavourSpec:
    architecture: str  # "llama", "qwen2" or "mistral"
    special_tokens: tuple[str, ...]
    bos_token: str | None
    eos_token: str
    pad_token: str
    chat_template: str
    # extra end-of-turn tokens that generation should stop on
    stop_tokens: tuple[str, ...] = ()


FLAVOURS: dict[str, FlavourSpec] = {
    "llama3": FlavourSpec(
        architecture="llama",
        special_tokens=("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                        "<|end_header_id|>", "<|eot_id|>"),
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|end_of_text|>",
        chat_template=LLAMA3_TEMPLATE,
        stop_tokens=("<|eot_id|>",),
    ),
    "chatml": FlavourSpec(
        architecture="qwen2",
        special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    ),
    "mistral": FlavourSpec(
        architecture="mistral",
        special_tokens=("<unk>", "<s>", "</s>", "[INST]", "[/INST]"),
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
        chat_template=MISTRAL_TEMPLATE,
    ),
}

TRAINING_SENTENCES = [
    "Chest pain that spreads to the arm or jaw needs urgent medical attention.",
    "Take paracetamol no more often than every four hours and never above the daily maximum.",
    "High blood pressure often has no symptoms, so regular checks matter.",
    "Metformin is a first-line treatment for type 2 diabetes in most adults.",
    "A fever in a baby younger than three months should be assessed the same day.",
    "Warfarin interacts with many antibiotics; check the INR more often when starting one.",
    "Sudden weakness of one side of the face, arm or leg can be a stroke: call emergency services.",
    "Patients with asthma should carry their reliever inhaler at all times.",
    "Screening for colorectal cancer usually starts at age forty-five or fifty.",
    "Folic acid before conception lowers the risk of neural tube defects.",
    "Response A is more complete and safer than Response B. [RESULT] A",
    "Response B addresses the risks clearly and is better. [RESULT] B",
    "The feedback considers relevance, completeness, safety, ethics and clarity.",
    "###Task Description ###Instruction ###Response A ###Response B ###Score Rubric ###Feedback:",
    "You are a fair judge assistant tasked with providing clear, objective feedback.",
]


def _train_tokenizer(spec: FlavourSpec, vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(spec.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TRAINING_SENTENCES * 4, trainer=trainer)
    if spec.bos_token:
        # Like the real Llama/Mistral tokenizers: encoding a prompt adds the BOS token.
        bos_id = tokenizer.token_to_id(spec.bos_token)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos_token} $A", pair=f"{spec.bos_token} $A $B",
            special_tokens=[(spec.bos_token, bos_id)],
        )
    extra = [t for t in spec.special_tokens if t not in (spec.bos_token, spec.eos_token, spec.pad_token)]
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=spec.bos_token,
        eos_token=spec.eos_token,
        pad_token=spec.pad_token,
        additional_special_tokens=extra,
    )
    wrapped.chat_template = spec.chat_template
    return wrapped


def _model_config(spec: FlavourSpec, vocab_size: int, token_ids: dict[str, int | None]) -> Any:
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config, "mistral": MistralConfig}[spec.architecture]
    eos_ids = [token_ids[spec.eos_token]] + [token_ids[t] for t in spec.stop_tokens]
    return config_class(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,  # vLLM's CPU attention rejects head dims below 32
        max_position_embeddings=4096,
        bos_token_id=token_ids[spec.bos_token] if spec.bos_token else None,
        eos_token_id=eos_ids if len(eos_ids) > 1 else eos_ids[0],
        pad_token_id=token_ids[spec.pad_token],
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )


def build_tiny_model(out_dir: str | Path, flavour: Flavour = "llama3", seed: int = 0,
                     vocab_size: int = 1024) -> Path:
    """Build (or reuse, if already built with the same settings) a tiny chat model in `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    out_dir = Path(out_dir)
    recipe = {"flavour": flavour, "seed": seed, "vocab_size": vocab_size, "recipe": 2}
    marker = out_dir / "arena_tiny_model.json"
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return out_dir
    spec = FLAVOURS[flavour]
    tokenizer = _train_tokenizer(spec, vocab_size)
    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in spec.special_tokens}
    torch.manual_seed(seed)
    config = _model_config(spec, len(tokenizer), token_ids)
    model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    marker.write_text(json.dumps(recipe))
    return out_dir
