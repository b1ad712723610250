"""The judge key: one fingerprint of everything that shapes a verdict.

It covers the judge's output-shaping settings (with the rubric layout and whether reference
answers are used), the rubric (id, version and text as rendered in that layout) and the prompt
template version; for a `prompt_format: chat-template` judge, also the chat template it reads. Judgments and battles are stored under it, so changing any of
these makes new judgments instead of mixing old and new; the ratings stage rates only the
current key's battles.

Left out on purpose: the backend and transport (the same weights behind vLLM offline or a
server judge alike), `sampling.seed` (another seed is another draw from the same judge),
`logprobs` and `max_invalid_retries` (they do not change what a valid verdict says).
"""

from __future__ import annotations

from typing import Any

from arena.config import ArenaConfig, JudgeConfig
from arena.errors import ConfigError
from arena.fingerprint import fingerprint
from arena.judge.prompt import PROMPT_VERSION
from arena.judge.rubric import Rubric, load_rubric
from arena.judge.template import judge_chat_template


def require_judge(config: ArenaConfig) -> JudgeConfig:
    """The project's one judge. A jury's stages run per judge (`ArenaConfig.with_judge`)."""
    jury = config.jury
    if not jury:
        raise ConfigError(f"{config.path}: no judge configured (add a `judge:` section with backend and model)")
    if len(jury) > 1:
        names = ", ".join(j.name for j in jury)
        raise ConfigError(f"{config.path}: the project has a jury ({names}): name one judge with --judge NAME")
    return jury[0]


def judge_settings(judge: JudgeConfig) -> dict[str, Any]:
    settings = {
        "model": judge.model,
        "revision": judge.revision,
        "tokenizer": judge.tokenizer,
        "dtype": judge.dtype,
        "quantization": judge.quantization,
        "sampling": judge.sampling.model_dump(exclude={"seed"}),
        "stop": list(judge.stop),
        "context_length": judge.context_length,
        "max_model_len": judge.max_model_len,
        "constrained": judge.constrained,
        "rubric_layout": judge.rubric_layout,
        "reference_answers": judge.reference_answers,
    }
    # A Prometheus judge's key is unchanged from before the option existed; a chat-template judge's
    # key covers the template it reads its task through.
    if judge.prompt_format != "prometheus":
        settings["prompt_format"] = judge.prompt_format
        settings["chat_template"] = judge_chat_template(judge)
    return settings


def judge_key_for(judge: JudgeConfig, rubric: Rubric) -> str:
    return fingerprint({
        "judge": judge_settings(judge),
        "rubric": {"id": rubric.id, "version": rubric.version, "text": rubric.text},
        "prompt_version": PROMPT_VERSION,
    })


def judge_rubric(config: ArenaConfig) -> Rubric:
    """The project's rubric, rendered in its judge's rubric layout."""
    return load_rubric(config.rubric, require_judge(config).rubric_layout)


def current_judge_key(config: ArenaConfig) -> str:
    """The judge key of the project's current judge, rubric and prompt template."""
    return judge_key_for(require_judge(config), judge_rubric(config))


def jury_judge_keys(config: ArenaConfig) -> tuple[tuple[str, str], ...]:
    """(name, judge key) of every configured judge, in the file's order. Two judges with one key
    (the same model and settings under two names) would share their judgments: refused."""
    keys = tuple((j.name, judge_key_for(j, load_rubric(config.rubric, j.rubric_layout))) for j in config.jury)
    seen: dict[str, str] = {}
    for name, key in keys:
        if key in seen:
            raise ConfigError(f"{config.path}: judges {seen[key]!r} and {name!r} have the same judge key "
                              "(the same model, settings and rubric layout): a jury needs different judges")
        seen[key] = name
    return keys
