"""The judge's prompt, exactly in the format Prometheus 2 was trained on for relative grading.

The task is built in two layers, so that another judge can later read the same task through its
own chat template:
- `relative_task` fills prometheus-eval's relative-grading template (`RELATIVE_PROMPT` with a
  reference answer, `RELATIVE_PROMPT_WO_REF` without) and pairs it with its system prompt: the
  judge's task as (system, user) turns, the user turn split where the two responses go.
- `mistral_prompt` wraps that task the way Prometheus 2 reads it: prometheus-eval builds FastChat's
  "mistral" conversation, the system prompt and the filled template in one user turn,
  `[INST] {system}\\n{template} [/INST]`. FastChat adds no BOS: the tokenizer does when the prompt
  is encoded (vLLM encodes raw prompts with special tokens, for the offline engine and for
  /v1/completions alike), so none is written here.

A judge that is not a Prometheus 2 model (`judge.prompt_format: chat-template`) reads the same
task through its own chat template: `chat_prompt` renders the (system, user) turns with the
template (the entry's `chat_template` file, else its tokenizer's: `arena.judge.template`) and
splits the rendered text where the responses go, so truncation counts the tokens the judge reads.
A template that refuses a system turn (Mistral's, say) gets the system prompt folded into the
user turn, as Prometheus 2's own prompt does.

`PROMPT_VERSION` is stored with every judgment and is part of the judge key: change it whenever
anything that builds what the judge reads (this file, the sanitiser) or what it may write (the
verdict regex) changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.backends.base import render_chat_template
from arena.errors import ConfigError

# 3: answers sanitised on a Unicode-folded view; the constrained-decoding regex admits Unicode
# feedback of a minimum length and no earlier [RESULT] (the template text itself is unchanged).
PROMPT_VERSION = "prometheus2-relative-3"

REL_SYSTEM_PROMPT = (
    "You are a fair judge assistant assigned to deliver insightful feedback that compares "
    "individual performances, highlighting how each stands relative to others within the same cohort."
)

_TASK_WITH_REFERENCE = (
    "An instruction (might include an Input inside it), a response to evaluate, a reference answer, "
    "and a score rubric representing a evaluation criteria are given."
)
_TASK_WITHOUT_REFERENCE = (
    "An instruction (might include an Input inside it), a response to evaluate, "
    "and a score rubric representing a evaluation criteria are given."
)
_STEPS = (
    "1. Write a detailed feedback that assess the quality of two responses strictly based on the "
    "given score rubric, not evaluating in general.\n"
    "2. After writing a feedback, choose a better response between Response A and Response B. "
    "You should refer to the score rubric.\n"
    '3. The output format should look as follows: "(write a feedback for criteria) [RESULT] (A or B)"\n'
    "4. Please do not generate any other opening, closing, and explanations."
)

# The judge's model card feeds one user turn, system prompt + blank line + filled template,
# through the Mistral chat template (which has no system role). prometheus-eval's FastChat path
# writes a single newline instead; we follow the model card.
SYSTEM_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PromptParts:
    """A text split where the candidates go, so lengths can be budgeted per part."""

    head: str  # everything before Response A's text
    middle: str  # between Response A's and Response B's texts
    tail: str  # everything after Response B's text

    def join(self, response_a: str, response_b: str) -> str:
        return f"{self.head}{response_a}{self.middle}{response_b}{self.tail}"


@dataclass(frozen=True)
class RelativeTask:
    """The judge's task as chat turns: a system prompt, and the user turn around the responses."""

    system: str
    user: PromptParts


def relative_task(instruction: str, rubric: str, reference_answer: str | None = None) -> RelativeTask:
    """prometheus-eval's relative-grading template, filled; the reference block only when given."""
    task = _TASK_WITH_REFERENCE if reference_answer else _TASK_WITHOUT_REFERENCE
    head = (
        f"###Task Description:\n{task}\n{_STEPS}\n\n"
        f"###Instruction:\n{instruction}\n\n"
        "###Response A:\n"
    )
    middle = "\n\n###Response B:\n"
    reference = f"\n\n###Reference Answer:\n{reference_answer}" if reference_answer else ""
    tail = f"{reference}\n\n###Score Rubric:\n{rubric}\n\n###Feedback: "
    return RelativeTask(system=REL_SYSTEM_PROMPT, user=PromptParts(head=head, middle=middle, tail=tail))


def mistral_prompt(task: RelativeTask) -> PromptParts:
    """The task as Prometheus 2's one raw `[INST]` turn (see the module docstring)."""
    return PromptParts(
        head=f"[INST] {task.system}{SYSTEM_SEPARATOR}{task.user.head}",
        middle=task.user.middle,
        tail=f"{task.user.tail} [/INST]",
    )


# Placeholders for the responses while the template renders: no template or text contains them.
_SLOT_A = "\x00arena:response-a\x00"
_SLOT_B = "\x00arena:response-b\x00"


def chat_messages(task: RelativeTask, fold_system: bool = False) -> list[dict[str, str]]:
    """The task as chat turns around the placeholders; `fold_system` puts the system prompt in the user turn."""
    user = task.user.join(_SLOT_A, _SLOT_B)
    if fold_system:
        return [{"role": "user", "content": f"{task.system}{SYSTEM_SEPARATOR}{user}"}]
    return [{"role": "system", "content": task.system}, {"role": "user", "content": user}]


def chat_prompt(task: RelativeTask, template: str) -> PromptParts:
    """The task rendered by a chat template (with the generation prompt), split where the responses go."""
    from jinja2.exceptions import TemplateError

    try:
        rendered = render_chat_template(template, chat_messages(task))
    except TemplateError:  # a template without a system role
        rendered = render_chat_template(template, chat_messages(task, fold_system=True))
    head, found_a, rest = rendered.partition(_SLOT_A)
    middle, found_b, tail = rest.partition(_SLOT_B)
    if not (found_a and found_b) or _SLOT_A in tail or _SLOT_B in tail:
        raise ConfigError("the judge's chat template does not show the user turn exactly once")
    return PromptParts(head=head, middle=middle, tail=tail)


def prompt_parts(instruction: str, rubric: str, reference_answer: str | None = None,
                 chat_template: str | None = None) -> PromptParts:
    """The relative-grading prompt around two responses: Prometheus 2's raw `[INST]` form, or
    rendered by `chat_template` when one is given (`judge.prompt_format: chat-template`)."""
    task = relative_task(instruction, rubric, reference_answer)
    return mistral_prompt(task) if chat_template is None else chat_prompt(task, chat_template)


def judge_prompt(instruction: str, response_a: str, response_b: str, rubric: str,
                 reference_answer: str | None = None) -> str:
    """The full raw prompt sent to the judge."""
    return prompt_parts(instruction, rubric, reference_answer).join(response_a, response_b)
