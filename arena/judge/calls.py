"""One round of judge calls, shared by `arena judge` (`run.py`) and `arena judge validate`
(`validate.py`): send every prompt, count the calls and failed requests, parse each output, and
say which invalid outputs are sent again.

A failed request (the server's error after the backend's own retries) is counted with an example
and dropped: that item stays pending for the next run. An invalid output is retried while the
item has retries left, otherwise it is kept as an invalid judgment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from arena.backends.base import Backend, GenerationRequest, GenerationResult
from arena.judge.verdict import ParsedVerdict, parse_verdict

Item = TypeVar("Item")
ERROR_EXAMPLES = 3  # failed requests quoted in a summary


class CallCounts(Protocol):
    """A run summary's counters of its calls (`JudgeSummary`, `ValidationSummary`)."""

    model_calls: int
    errors: int  # requests that failed after the backend's retries
    retries: int  # extra model calls for invalid outputs
    error_examples: list[str]


@dataclass(frozen=True)
class Output(Generic[Item]):
    item: Item
    result: GenerationResult
    parsed: ParsedVerdict
    retry: bool  # invalid, with retries left: send it again


def judge_round(backend: Backend, items: Sequence[Item], request_of: Callable[[Item, str], GenerationRequest],
                may_retry: Callable[[Item], bool], counts: CallCounts) -> Iterator[Output[Item]]:
    """The outputs of `items`, each parsed, as the backend returns them (failed requests counted, not yielded)."""
    by_key = {str(index): item for index, item in enumerate(items)}
    for result in backend.generate([request_of(item, key) for key, item in by_key.items()]):
        item = by_key[result.key]
        counts.model_calls += 1
        if not result.ok:
            counts.errors += 1
            if len(counts.error_examples) < ERROR_EXAMPLES:
                counts.error_examples.append(str(result.error))
            continue
        parsed = parse_verdict(result.text, result.finish_reason)
        retry = not parsed.valid and may_retry(item)
        counts.retries += int(retry)
        yield Output(item, result, parsed, retry)
