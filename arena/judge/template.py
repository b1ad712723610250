"""Which chat template a judge reads its task through (`judge.prompt_format: chat-template`).

A Prometheus 2 judge reads the raw `[INST]` prompt it was trained on and needs none. Any other
judge gets the task rendered by its own chat template: the entry's `chat_template` file, else the
one its tokenizer ships, read from local files without loading a model: a folder's
`chat_template.jinja` or `tokenizer_config.json`, or a GGUF file's `tokenizer.chat_template`.
The template text is part of the judge key (`arena.judge.key`), so another template is another judge.
"""

from __future__ import annotations

import json
from pathlib import Path

from arena.backends.base import model_location
from arena.config import JudgeConfig
from arena.errors import ConfigError


def judge_chat_template(judge: JudgeConfig) -> str | None:
    """The judge's chat template text, or None for the Prometheus prompt (ConfigError if none is found)."""
    if judge.prompt_format == "prometheus":
        return None
    own = judge.chat_template_text()
    if own:
        return own
    sources = [s for s in (judge.tokenizer, judge.model) if s]
    for source in sources:
        template = local_chat_template(Path(model_location(source)))
        if template:
            return template
    raise ConfigError(
        f"judge {judge.name!r}: prompt_format: chat-template, but no chat template was found in "
        f"{' or '.join(sources)} (set the judge's chat_template to a Jinja file)"
    )


def local_chat_template(path: Path) -> str | None:
    """The chat template shipped in a local tokenizer folder or GGUF file, if any."""
    if path.is_file() and path.suffix.lower() == ".gguf":
        return gguf_chat_template(path)
    if not path.is_dir():
        return None
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = path / "tokenizer_config.json"
    if config.is_file():
        try:
            template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError):
            return None
        if isinstance(template, list):  # named templates: the default one
            named = {item.get("name"): item.get("template") for item in template if isinstance(item, dict)}
            template = named.get("default")
        return template if isinstance(template, str) else None
    return None


def gguf_chat_template(path: Path) -> str | None:
    """A GGUF file's `tokenizer.chat_template` metadata (needs the gguf package)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    field = GGUFReader(str(path)).fields.get("tokenizer.chat_template")
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")
