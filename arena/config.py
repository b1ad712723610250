"""The project file `arena.yaml`, validated at the edge into typed objects.

Relative paths in the file are resolved against the file's own folder, so a project can be
moved or run from anywhere; `arena:NAME` names a file shipped with arena (`arena.files`). Every validation error names the file, the field and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from arena.backends.base import SamplingSettings
from arena.errors import ConfigError
from arena.files import resolve_path
from arena.fingerprint import fingerprint

# Every candidate gets the same simple system prompt unless its entry overrides it, as in the
# Med42-v2 Clinical Elo evaluation: differences in ratings then come from the models, not prompts.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, respectful and honest medical assistant. "
    "Answer the question accurately, completely and safely."
)

DEFAULT_RUBRIC = "arena:rubrics/medical.yaml"  # the shipped medical rubric (`arena.files`)

Backend = Literal["vllm", "openai", "transformers", "openvino"]
# How a rubric reads in the judge's prompt: see arena/judge/rubric.py.
RubricLayout = Literal["trained", "criteria-list"]


def repeated(values: list[str]) -> list[str]:
    """The values that occur more than once, sorted."""
    return sorted({v for v in values if values.count(v) > 1})


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CANDIDATE_SAMPLING = SamplingSettings()
# The Prometheus 2 paper's sampling. The judge is seeded by default: each request gets a seed
# derived from this one and what it judges (`arena.judge.run.request_seed`).
JUDGE_SAMPLING = SamplingSettings(temperature=1.0, top_p=0.9, repetition_penalty=1.03, max_tokens=1024, seed=0)


class Sampling(StrictModel):
    """Sampling settings of a candidate model. Unset fields take CANDIDATE_SAMPLING's values."""

    temperature: float = Field(CANDIDATE_SAMPLING.temperature, ge=0.0, le=5.0)
    top_p: float = Field(CANDIDATE_SAMPLING.top_p, gt=0.0, le=1.0)
    top_k: int = Field(CANDIDATE_SAMPLING.top_k, description="-1 disables top-k")
    repetition_penalty: float = Field(CANDIDATE_SAMPLING.repetition_penalty, gt=0.0, le=5.0)
    max_tokens: int = Field(CANDIDATE_SAMPLING.max_tokens, ge=1)
    seed: int | None = CANDIDATE_SAMPLING.seed

    @field_validator("top_k")
    @classmethod
    def _top_k_valid(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (disabled) or a positive integer")
        return value


class JudgeSampling(Sampling):
    """The judge's sampling: unset fields take JUDGE_SAMPLING's values (a partial override keeps
    the others). A seeded judge draws the same verdicts on a rerun; `seed: null` sends none."""

    temperature: float = Field(JUDGE_SAMPLING.temperature, ge=0.0, le=5.0)
    top_p: float = Field(JUDGE_SAMPLING.top_p, gt=0.0, le=1.0)
    top_k: int = Field(JUDGE_SAMPLING.top_k, description="-1 disables top-k")
    repetition_penalty: float = Field(JUDGE_SAMPLING.repetition_penalty, gt=0.0, le=5.0)
    max_tokens: int = Field(JUDGE_SAMPLING.max_tokens, ge=1)
    seed: int | None = JUDGE_SAMPLING.seed


class Price(StrictModel):
    """What an API server charges, in US dollars per million tokens (the cost ledger's money)."""

    prompt: float = Field(ge=0.0)
    completion: float = Field(ge=0.0)


# vLLM 0.32's in-process engine refuses LLM(data_parallel_size>1) ("not supported for
# single-process usage"); arena's own workers are the data parallelism instead.
DATA_PARALLEL_HELP = (
    "vLLM's in-process engine cannot replicate itself; run one `arena judge` / `arena generate` worker per "
    "replica on one store (each with its own GPUs, e.g. CUDA_VISIBLE_DEVICES; deploy/slurm/), or serve the "
    "model with `vllm serve --data-parallel-size N` and use backend openai")


class ModelConfig(StrictModel):
    """One model: how to reach it and everything that shapes its answers."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+/-]*$")
    backend: Backend
    model: str = Field(min_length=1, description="local path, hub id, or the server's model name")
    revision: str | None = None
    tokenizer: str | None = Field(None, description="tokenizer path or hub id, if not the model's")
    dtype: str = "auto"
    quantization: str | None = None
    chat_template: Path | None = Field(
        None, description="a Jinja template file; unset uses the tokenizer's own template"
    )
    system_prompt: str | None = Field(None, description="unset uses the project's system prompt")
    stop: list[str] = Field(default_factory=list)
    sampling: Sampling = Field(default_factory=Sampling)
    max_model_len: int | None = Field(None, ge=16)
    parameters: str | None = Field(None, description="parameter count for display, e.g. '8B'")
    # vLLM (in-process) options
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1, description="vLLM pipeline stages (GPUs, or nodes with ray)")
    data_parallel_size: int = Field(1, ge=1, description="engine replicas; see DATA_PARALLEL_HELP")
    distributed_executor_backend: Literal["mp", "ray", "uni"] | None = Field(
        None, description="vLLM's workers: mp (one node), ray (several nodes), uni (one process); None: vLLM picks")
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    enable_prefix_caching: bool = True
    enforce_eager: bool = False
    # OpenAI-compatible HTTP options
    base_url: str | list[str] | None = Field(
        None, description="the server's URL, or a list of replicas serving the same model")
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_concurrency: int = Field(8, ge=1)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    # transformers options (batch_size is also OpenVINO's number of sequences decoded at once)
    batch_size: int = Field(8, ge=1)
    # OpenVINO options
    device: str = Field("CPU", min_length=1, description="OpenVINO device: CPU, GPU, NPU or AUTO")
    # the cost ledger (README "What a board cost"); neither is part of the answers' fingerprint
    gpus: int | None = Field(None, ge=0, description="GPUs a run of this entry holds; unset: the backend's "
                             "own count (vLLM: tensor_parallel_size on a GPU, 0 on the CPU; openai: 0)")
    price_per_million_tokens: Price | None = Field(
        None, description="{prompt: USD, completion: USD} per million tokens, for API servers")

    @model_validator(mode="after")
    def _backend_options(self) -> ModelConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError(f"model {self.name!r}: the openai backend needs base_url")
        if isinstance(self.base_url, list) and len(set(self.base_urls)) != len(self.base_url):
            raise ValueError(f"model {self.name!r}: base_url lists an endpoint twice")
        self._check_parallelism()
        if self.chat_template is not None and not self.chat_template.is_file():
            raise ValueError(f"model {self.name!r}: chat_template file not found: {self.chat_template}")
        return self

    def _check_parallelism(self) -> None:
        """What vLLM would refuse, said at load time (what depends on the GPUs present is vLLM's to check)."""
        parallel = self.pipeline_parallel_size > 1 or self.data_parallel_size > 1 or self.distributed_executor_backend
        if parallel and self.backend != "vllm":
            raise ValueError(f"model {self.name!r}: pipeline_parallel_size, data_parallel_size and "
                             "distributed_executor_backend apply to backend vllm; set a server's own options on the server")
        if self.data_parallel_size > 1:
            raise ValueError(f"model {self.name!r}: data_parallel_size {self.data_parallel_size}: {DATA_PARALLEL_HELP}")
        if self.distributed_executor_backend == "uni" and self.tensor_parallel_size * self.pipeline_parallel_size > 1:
            raise ValueError(f"model {self.name!r}: distributed_executor_backend uni runs one process, "
                             "so tensor_parallel_size and pipeline_parallel_size must be 1 (use mp or ray)")

    @property
    def base_urls(self) -> list[str]:
        """Every endpoint of the entry (one, or the replicas it lists), without a trailing slash."""
        urls = [self.base_url] if isinstance(self.base_url, str) else list(self.base_url or [])
        return [url.rstrip("/") for url in urls]

    def sampling_settings(self) -> SamplingSettings:
        """The entry's sampling and stop strings as the core's one sampling type."""
        sampling = self.sampling
        return SamplingSettings(
            temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
            repetition_penalty=sampling.repetition_penalty, max_tokens=sampling.max_tokens,
            seed=sampling.seed, stop=tuple(self.stop),
        )

    def chat_template_text(self) -> str | None:
        return self.chat_template.read_text(encoding="utf-8") if self.chat_template else None

    def answer_settings(self, system_prompt: str) -> dict[str, Any]:
        """Everything that shapes this model's answers (not transport or memory options)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "revision": self.revision,
            "tokenizer": self.tokenizer,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "chat_template": self.chat_template_text(),
            "system_prompt": system_prompt,
            "stop": list(self.stop),
            "sampling": self.sampling.model_dump(),
            "max_model_len": self.max_model_len,
        }


class JudgeConfig(ModelConfig):
    """The judge model: a model entry with Prometheus 2 defaults and judging options."""

    name: str = Field("prometheus-7b-v2.0", min_length=1)
    sampling: JudgeSampling = Field(default_factory=JudgeSampling)
    context_length: int = Field(4096, ge=256, description="the judge's trained context")
    max_invalid_retries: int = Field(3, ge=0)
    constrained: Literal["auto", "on", "off"] = Field(
        "auto", description="regex-constrained decoding: auto = on for vLLM backends"
    )
    logprobs: bool = True
    rubric_layout: RubricLayout = Field(
        "trained", description="trained: one bracketed criterion line, as Prometheus 2 was trained; "
        "criteria-list: the question and one line per criterion (arena's layout before)")
    reference_answers: bool = Field(
        True, description="use a question's reference answer (Prometheus 2's relative prompt with a "
        "reference) when it has one")
    prompt_format: Literal["prometheus", "chat-template"] = Field(
        "prometheus", description="prometheus: Prometheus 2's trained raw [INST] prompt, byte for byte; "
        "chat-template: the same task rendered by the judge's chat template (its chat_template file, "
        "else its tokenizer's), for judges that are not Prometheus 2 models")


class PairsConfig(StrictModel):
    """Which (question, pair) comparisons to judge: all, a sample per question, or adaptive rounds
    (`arena.judge.rounds`: each round where it most settles the ranking; the rest below)."""

    mode: Literal["all", "sample", "adaptive"] = "all"
    per_question: int = Field(3, ge=1)
    seed: int = 0
    round_judgments: int = Field(2000, ge=2, description="adaptive: the largest round, in judgments")
    min_round_judgments: int = Field(500, ge=2, description="adaptive: the smallest round, in judgments")
    warmup_battles_per_pair: int = Field(10, ge=0, description="adaptive: battles every pair gets first")
    confidence: float = Field(0.95, gt=0.0, lt=1.0, description="adaptive: settled when every adjacent pair of "
                              "the ranking is separated at this level jointly")
    tie_margin_elo: float = Field(0.0, ge=0.0, description="adaptive: > 0: an adjacent pair whose interval of the "
                                  "difference lies within +-this many Elo counts as settled (tied)")
    stop_when_settled: bool = Field(True, description="adaptive: stop once the ranking is settled; false: "
                                    "report it settled and go on to the budget")

    @model_validator(mode="after")
    def _round_sizes(self) -> PairsConfig:
        if self.min_round_judgments > self.round_judgments:
            raise ValueError("min_round_judgments must not exceed round_judgments")
        return self


class NightlyConfig(StrictModel):
    max_judgments: int | None = Field(None, ge=1, description="judgment budget per nightly run, shared by a jury "
                                      "(`arena.judge.jury`)")
    export_dir: Path = Path("exports")
    log_file: Path = Path("logs/nightly.jsonl")


class ArenaConfig(StrictModel):
    """The whole project: models, questions, rubric, judge and storage."""

    path: Path = Field(description="the project file this was read from")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    models: list[ModelConfig] = Field(min_length=1)
    questions: list[Path] = Field(min_length=1)
    rubric: Path = Field(description=f"a rubric file; unset: {DEFAULT_RUBRIC}")
    judge: JudgeConfig | None = None
    # A jury: several judges, each with its own judge key (`arena.judge.key`); give `judge:` or `judges:`.
    judges: list[JudgeConfig] = Field(default_factory=list)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    storage: str = Field("", description="SQLAlchemy URL; empty = SQLite file arena.db beside the project file")
    storage_password_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the storage password (put into the URL when the store is opened)")
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> ArenaConfig:
        duplicates = repeated([m.name for m in self.models])
        if duplicates:
            raise ValueError(f"duplicate model names: {', '.join(duplicates)}")
        if self.judge is not None and self.judges:
            raise ValueError("give either judge: (one judge) or judges: (a jury), not both")
        duplicates = repeated([j.name for j in self.judges])
        if duplicates:
            raise ValueError(f"judges: duplicate judge names: {', '.join(duplicates)}")
        return self

    @property
    def jury(self) -> tuple[JudgeConfig, ...]:
        """Every configured judge: the `judges:` list, or the one `judge:` (empty: no judge)."""
        if self.judges:
            return tuple(self.judges)
        return (self.judge,) if self.judge is not None else ()

    def select_judges(self, name: str | None = None) -> tuple[JudgeConfig, ...]:
        """All judges (name None) or the one named; ConfigError listing the names otherwise."""
        if name is None:
            return self.jury
        for entry in self.jury:
            if entry.name == name:
                return (entry,)
        known = ", ".join(j.name for j in self.jury) or "none configured"
        raise ConfigError(f"{self.path}: unknown judge {name!r} (judges: {known})")

    def with_judge(self, judge: JudgeConfig) -> ArenaConfig:
        """This project as if `judge` were its only judge: how each juror's stages run."""
        return self.model_copy(update={"judge": judge, "judges": []})

    @property
    def root(self) -> Path:
        return self.path.parent

    @model_validator(mode="after")
    def _one_password(self) -> ArenaConfig:
        if self.storage_password_env is None:
            return self
        parts = urlsplit(self.storage)
        if not parts.username:
            raise ValueError("storage_password_env needs a storage URL with a user name (scheme://USER@host/db)")
        if parts.password is not None:
            raise ValueError("storage_password_env is set but the storage URL already has a password: keep one")
        return self

    @property
    def storage_url(self) -> str:
        """The store's URL, with the password from `storage_password_env` when it names one."""
        if not self.storage:
            return f"sqlite:///{self.root / 'arena.db'}"
        if self.storage_password_env is None:
            return self.storage
        password = os.environ.get(self.storage_password_env)
        if password is None:
            raise ConfigError(f"{self.path}: environment variable {self.storage_password_env} "
                              "(storage_password_env) is not set")
        parts = urlsplit(self.storage)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user}:{quote(password, safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc))

    def system_prompt_for(self, model: ModelConfig) -> str:
        return model.system_prompt if model.system_prompt is not None else self.system_prompt

    def model(self, name: str) -> ModelConfig:
        for entry in self.models:
            if entry.name == name:
                return entry
        known = ", ".join(m.name for m in self.models)
        raise ConfigError(f"{self.path}: unknown model {name!r} (known: {known})")

    def select_models(self, names: list[str] | None) -> list[ModelConfig]:
        return list(self.models) if not names else [self.model(n) for n in names]

    def answer_fingerprint(self, model: ModelConfig) -> str:
        return fingerprint(model.answer_settings(self.system_prompt_for(model)))


def _resolve(root: Path, value: Any) -> Any:
    """A path to write (exports, the log) relative to the project's folder."""
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(root / value)
    return value


def _resolve_file(root: Path, value: Any, field: str) -> Any:
    """A file to read: `arena:NAME` (shipped data) or a path relative to the project's folder."""
    if not isinstance(value, str) or not value:
        return value
    try:
        return str(resolve_path(value, root))
    except ConfigError as exc:
        raise ConfigError(f"{field}: {exc}") from None


def _resolve_paths(raw: dict[str, Any], root: Path) -> dict[str, Any]:
    """Make the file's relative paths relative to its folder rather than to the working dir."""
    raw = dict(raw)
    if isinstance(raw.get("questions"), str):
        raw["questions"] = [raw["questions"]]
    if isinstance(raw.get("questions"), list):
        raw["questions"] = [_resolve_file(root, q, "questions") for q in raw["questions"]]
    raw["rubric"] = _resolve_file(root, raw.get("rubric", DEFAULT_RUBRIC), "rubric")
    entries = [m for m in raw.get("models") or [] if isinstance(m, dict)]
    if isinstance(raw.get("judge"), dict):
        entries.append(raw["judge"])
    if isinstance(raw.get("judges"), list):
        entries += [j for j in raw["judges"] if isinstance(j, dict)]
    for entry in entries:
        if entry.get("chat_template"):
            entry["chat_template"] = _resolve_file(root, entry["chat_template"], "chat_template")
        for key in ("model", "tokenizer"):
            # A local model folder may be given relative to the project; hub ids are left alone.
            value = entry.get(key)
            if isinstance(value, str) and value.startswith(("./", "../")):
                entry[key] = _resolve(root, value)
    nightly = raw.get("nightly")
    if isinstance(nightly, dict):
        for key in ("export_dir", "log_file"):
            if key in nightly:
                nightly[key] = _resolve(root, nightly[key])
    else:
        raw["nightly"] = {
            "export_dir": str(root / "exports"),
            "log_file": str(root / "logs" / "nightly.jsonl"),
        }
    return raw


def _describe(error: ValidationError, raw: dict[str, Any]) -> str:
    first = error.errors()[0]
    location = _location(first["loc"], raw)
    message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{location}: {message}{suffix}" if location else f"{message}{suffix}"


def _location(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """`models[1].sampling.temperature`, with the model's name where there is one."""
    parts: list[str] = []
    node: Any = raw
    for key in loc:
        if isinstance(key, int):
            name = node[key].get("name") if isinstance(node, list) and isinstance(node[key], dict) else None
            parts[-1] += f"[{key}]" + (f" ({name})" if name else "")
        else:
            parts.append(str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def read_yaml_mapping(path: Path, expected: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; ConfigError naming file:line:col otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML: {problem}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of {expected} at the top level")
    return raw


def load_config(path: str | Path) -> ArenaConfig:
    """Read and validate a project file. Raises ConfigError naming the file and field."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: project file not found (create one, or pass -c FILE)")
    try:
        raw = _resolve_paths(read_yaml_mapping(path, "settings"), path.parent)
    except ConfigError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc}") from None
    try:
        config = ArenaConfig.model_validate({**raw, "path": path})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, raw)}") from None
    for question_file in config.questions:
        if not question_file.is_file():
            raise ConfigError(f"{path}: questions: file not found: {question_file}")
    return config
