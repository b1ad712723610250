"""A model loaded with Hugging Face transformers: for setups without vLLM (a laptop, a CPU).

Requests are grouped by sampling settings, sorted by prompt length (less padding) and run in
batches of `batch_size` through `generate` with left padding; each batch's results are yielded
as soon as it finishes. Regex-constrained decoding is not available here.

An entry whose `model` names a `.gguf` file (a local path, or `org/repo/file.gguf` on a hub)
is read by transformers' GGUF support (the `gguf` package): the weights are dequantised into
`dtype` and the tokenizer and chat template come from the GGUF's metadata unless the entry
names a `tokenizer`. So a user with only a GGUF and no server can take part.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from arena.backends.base import (
    GenerationRequest,
    GenerationResult,
    SamplingSettings,
    local_path,
    model_location,
    one_line,
    single_token_ids,
)
from arena.config import ModelConfig
from arena.errors import BackendError


@dataclass(frozen=True)
class Source:
    """What `from_pretrained` gets: a folder or hub id, and the GGUF file inside it, if any."""

    path: str
    gguf_file: str | None = None

    def options(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def model_source(name: str, what: str = "model") -> Source:
    """A folder or hub id as is; a `.gguf` file split into its folder (or hub repo) and file name."""
    if not name.lower().endswith(".gguf"):
        return Source(model_location(name))
    local = local_path(name)
    path = local or Path(name)  # a bare file name is local too when the file is there
    if local is not None or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"{what} GGUF file not found: {name}")
        return Source(str(path.parent), path.name)
    parts = name.split("/")
    if len(parts) < 3:
        raise FileNotFoundError(f"{what} GGUF file not found: {name} (a hub GGUF is org/repo/file.gguf)")
    return Source("/".join(parts[:2]), "/".join(parts[2:]))


class TransformersBackend:
    """transformers' `generate`, batched with left padding."""

    supports_regex = False
    supports_logprobs = True

    def __init__(self, model: ModelConfig) -> None:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = model
        self.name = model.name
        self.engine = f"transformers {transformers.__version__}"
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.gpus = 1 if self.device == "cuda" else 0  # the cost ledger's GPU count
        where = local_path(model.model)
        if where is not None and not where.exists():
            kind = "GGUF file" if model.model.lower().endswith(".gguf") else "model folder"
            raise BackendError(f"model {model.name!r}: {kind} not found: {model.model}")
        try:
            weights = model_source(model.model)
            vocabulary = model_source(model.tokenizer, "tokenizer") if model.tokenizer else weights
        except FileNotFoundError as exc:
            raise BackendError(f"model {model.name!r}: {exc}") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                vocabulary.path, revision=model.revision, padding_side="left", **vocabulary.options()
            )
            loaded: Any = AutoModelForCausalLM.from_pretrained(  # its `.to` is typed for models only
                weights.path, revision=model.revision, dtype=self.torch_dtype(model.dtype), **weights.options()
            )
            self.lm = loaded.to(self.device)
        except Exception as exc:
            raise BackendError(
                f"model {model.name!r}: transformers could not load {model.model!r}: {one_line(exc)}"
            ) from None
        self.lm.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        template = model.chat_template_text()
        if template is not None:
            self.tokenizer.chat_template = template

    @staticmethod
    def torch_dtype(name: str) -> Any:
        import torch

        if name == "auto":
            return "auto"
        aliases = {"half": "float16", "float": "float32", "bf16": "bfloat16", "fp16": "float16"}
        dtype = getattr(torch, aliases.get(name, name), None)
        if not isinstance(dtype, torch.dtype):
            raise BackendError(f"unknown dtype {name!r}")
        return dtype

    def prompt_text(self, request: GenerationRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        return str(self.tokenizer.apply_chat_template(
            list(request.messages or ()), tokenize=False, add_generation_prompt=True
        ))

    def stop_token_ids(self, stop: Sequence[str]) -> list[int]:
        """The tokenizer's end-of-sequence ids plus the stop strings that are single tokens."""
        ids: list[int] = []
        eos = self.lm.generation_config.eos_token_id
        ids += eos if isinstance(eos, list) else ([eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        ids += single_token_ids(stop, lambda text: self.tokenizer.encode(text, add_special_tokens=False))
        return list(dict.fromkeys(ids))

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[GenerationResult]:
        prepared: list[tuple[GenerationRequest, str]] = []
        for request in requests:
            try:
                prepared.append((request, self.prompt_text(request)))
            except Exception as exc:  # a template that rejects the messages
                yield GenerationResult(key=request.key, engine=self.engine, error=f"chat template: {one_line(exc)}")

        def by_settings(item: tuple[GenerationRequest, str]) -> str:
            return repr((item[0].sampling, item[0].logprobs))

        for _, same_settings in groupby(sorted(prepared, key=by_settings), key=by_settings):
            group = sorted(same_settings, key=lambda item: len(item[1]))
            for start in range(0, len(group), self.model.batch_size):
                yield from self._batch(group[start:start + self.model.batch_size])

    def _batch(self, batch: list[tuple[GenerationRequest, str]]) -> list[GenerationResult]:
        import torch

        started = time.perf_counter()
        sampling = batch[0][0].sampling
        logprobs = batch[0][0].logprobs
        try:
            inputs = self.tokenizer(
                [prompt for _, prompt in batch], return_tensors="pt", padding=True,
                add_special_tokens=not self._template_adds_bos(batch),
            ).to(self.device)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            with torch.inference_mode():
                output = self.lm.generate(
                    **inputs, **self.generate_options(sampling, logprobs is not None),
                    pad_token_id=self.tokenizer.pad_token_id,
                )
        except Exception as exc:
            return [GenerationResult(key=r.key, engine=self.engine, error=one_line(exc)) for r, _ in batch]
        latency = time.perf_counter() - started
        sequences = output.sequences if logprobs is not None else output
        prompt_length = inputs["input_ids"].shape[1]
        stop_ids = set(self.stop_token_ids(sampling.stop))
        results = []
        for row, (request, _) in enumerate(batch):
            generated = sequences[row, prompt_length:].tolist()
            result = self._result(request, generated, stop_ids, sampling, latency)
            result.prompt_tokens = int(inputs["attention_mask"][row].sum())
            if logprobs is not None and result.completion_tokens:
                result.top_logprobs = self._top_logprobs(output.logits, row, result.completion_tokens, logprobs)
            results.append(result)
        return results

    def _template_adds_bos(self, batch: list[tuple[GenerationRequest, str]]) -> bool:
        """A rendered chat prompt that already starts with BOS must not get a second one."""
        bos = self.tokenizer.bos_token
        return bool(bos) and all(prompt.startswith(bos) for _, prompt in batch)

    def generate_options(self, sampling: SamplingSettings, with_logits: bool) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "eos_token_id": self.stop_token_ids(sampling.stop),
            "repetition_penalty": sampling.repetition_penalty,
        }
        if sampling.temperature > 0:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                           top_k=sampling.top_k if sampling.top_k > 0 else None)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        text_stops = [s for s in sampling.stop if len(self.tokenizer.encode(s, add_special_tokens=False)) > 1]
        if text_stops:
            options.update(stop_strings=text_stops, tokenizer=self.tokenizer)
        if with_logits:
            options.update(output_logits=True, return_dict_in_generate=True)
        return options

    def _result(self, request: GenerationRequest, generated: list[int], stop_ids: set[int],
                sampling: SamplingSettings, latency: float) -> GenerationResult:
        # Cut at the first stop token (what follows is padding); count it, as vLLM does.
        length = next((i + 1 for i, token in enumerate(generated) if token in stop_ids), None)
        finish_reason = "stop" if length is not None else None
        if length is None:
            pad = self.tokenizer.pad_token_id
            length = len(generated)
            while length and generated[length - 1] == pad and pad not in stop_ids:
                length -= 1
        text = str(self.tokenizer.decode(generated[:length], skip_special_tokens=True))
        cut = min((i for i in (text.find(s) for s in sampling.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, finish_reason = text[:cut], "stop"
        if finish_reason is None:
            finish_reason = "length" if length >= sampling.max_tokens else "stop"
        return GenerationResult(
            key=request.key, text=text, finish_reason=finish_reason, completion_tokens=length,
            latency_s=latency, engine=self.engine,
        )

    def _top_logprobs(self, logits: Sequence[Any], row: int, count: int, top: int) -> list[dict[str, float]]:
        import torch

        positions = []
        for step in logits[:count]:
            values, ids = torch.log_softmax(step[row].float(), dim=-1).topk(top)
            positions.append({str(self.tokenizer.decode([int(i)])): float(v) for v, i in zip(values, ids, strict=False)})
        return positions

    def close(self) -> None:
        import torch

        self.__dict__.pop("lm", None)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
