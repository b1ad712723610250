"""One round of judge calls: failed requests are counted and dropped, invalid outputs retried
while the item may retry, every call counted."""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.backends.base import GenerationRequest, SamplingSettings
from arena.backends.scripted import ScriptedBackend, ScriptedReply
from arena.judge.calls import judge_round

VALID = "Response A names the warning signs and says when to call. [RESULT] A"
REPLIES = {
    "good": VALID,
    "bad-once": "A [RESULT] A",  # no reasoning: invalid
    "cut-off": ScriptedReply(text=VALID, finish_reason="length"),  # stopped on max_tokens: invalid
    "down": ScriptedReply(text="upstream unavailable", status=503),
}


@dataclass
class Counts:
    model_calls: int = 0
    errors: int = 0
    retries: int = 0
    error_examples: list[str] = field(default_factory=list)


def request_of(item: str, key: str) -> GenerationRequest:
    return GenerationRequest(key=key, prompt=item, sampling=SamplingSettings())


def test_a_round_counts_parses_and_sorts_out_the_retries() -> None:
    backend = ScriptedBackend(lambda prompt: REPLIES[prompt])
    counts = Counts()
    outputs = list(judge_round(backend, ["good", "bad-once", "cut-off", "down"], request_of,
                               lambda item: item != "cut-off", counts))
    by_item = {out.item: out for out in outputs}
    assert sorted(by_item) == ["bad-once", "cut-off", "good"]  # the failed request is not an output
    assert by_item["good"].parsed.verdict == "A" and not by_item["good"].retry
    assert by_item["bad-once"].retry and not by_item["bad-once"].parsed.valid
    assert not by_item["cut-off"].retry and by_item["cut-off"].parsed.verdict is None  # no retries left: kept invalid
    assert (counts.model_calls, counts.errors, counts.retries) == (4, 1, 1)
    assert len(counts.error_examples) == 1 and "503" in counts.error_examples[0]
