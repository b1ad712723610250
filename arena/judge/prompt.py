"""The judge's prompt, exactly in the format Prometheus 2 was trained on for relative grading.

prometheus-eval builds it as FastChat's "mistral" conversation: the system prompt and the
filled template in one user turn, `[INST] {system}\\n{template} [/INST]`. FastChat adds no BOS:
the tokenizer does when the prompt is encoded (vLLM encodes raw prompts with special tokens,
for the offline engine and for /v1/completions alike), so none is written here.

`PROMPT_VERSION` is stored with every judgment and is part of the judge key: change it whenever
anything in this file changes what the judge reads.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_VERSION = "prometheus2-relative-2"

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
    """The prompt split where the candidates go, so lengths can be budgeted per part."""

    head: str  # everything before Response A's text
    middle: str  # between Response A's and Response B's texts
    tail: str  # everything after Response B's text

    def join(self, response_a: str, response_b: str) -> str:
        return f"{self.head}{response_a}{self.middle}{response_b}{self.tail}"


def prompt_parts(instruction: str, rubric: str, reference_answer: str | None = None) -> PromptParts:
    """The relative-grading prompt around two responses; reference block only when given."""
    task = _TASK_WITH_REFERENCE if reference_answer else _TASK_WITHOUT_REFERENCE
    head = (
        f"[INST] {REL_SYSTEM_PROMPT}{SYSTEM_SEPARATOR}"
        f"###Task Description:\n{task}\n{_STEPS}\n\n"
        f"###Instruction:\n{instruction}\n\n"
        "###Response A:\n"
    )
    middle = "\n\n###Response B:\n"
    reference = f"\n\n###Reference Answer:\n{reference_answer}" if reference_answer else ""
    tail = f"{reference}\n\n###Score Rubric:\n{rubric}\n\n###Feedback:  [/INST]"
    return PromptParts(head=head, middle=middle, tail=tail)


def judge_prompt(instruction: str, response_a: str, response_b: str, rubric: str,
                 reference_answer: str | None = None) -> str:
    """The full raw prompt sent to the judge."""
    return prompt_parts(instruction, rubric, reference_answer).join(response_a, response_b)
