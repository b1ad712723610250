"""Reading the judge's output: the strict verdict parser, the matching regex, and P(A).

A verdict is valid only when the output ends with one final `[RESULT] A` or `[RESULT] B`
(trailing whitespace allowed). Anything after the letter, such as `[RESULT] B.`, makes it
invalid; a `[RESULT]` earlier in the feedback is ignored. The regex for constrained decoding
produces only outputs this parser accepts (tested): feedback of printable ASCII, bounded so
that feedback plus marker always fit in `max_tokens`, then ` [RESULT] A|B`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_FINAL_VERDICT = re.compile(r"\[RESULT\] (A|B)\s*\Z")
# the marker " [RESULT] A" is 11 characters; every printable ASCII character is at most one token
_MARKER_TOKENS = 12
# the verdict token is the last or, when the end-of-sequence token is reported too, next to last
_VERDICT_SEARCH_WINDOW = 3


@dataclass(frozen=True)
class ParsedVerdict:
    verdict: str | None  # "A", "B", or None when the output is invalid
    feedback: str

    @property
    def valid(self) -> bool:
        return self.verdict is not None


def parse_verdict(output: str) -> ParsedVerdict:
    """The final verdict of a judge output and the feedback before it (strict)."""
    match = _FINAL_VERDICT.search(output)
    if match is None:
        return ParsedVerdict(verdict=None, feedback=output.strip())
    return ParsedVerdict(verdict=match.group(1), feedback=output[: match.start()].strip())


def verdict_regex(max_tokens: int) -> str:
    """The output format as a regex for structured outputs: feedback, then exactly one final verdict.

    Feedback is limited to printable ASCII, tabs and newlines so that its length in characters
    bounds its length in tokens, and to `max_tokens - 12` characters so that the marker always
    fits: a constrained output can never be cut off before its verdict.
    """
    feedback_chars = max(1, max_tokens - _MARKER_TOKENS)
    return r"[ -~\t\n]{1,%d} \[RESULT\] (A|B)" % feedback_chars


def _letter(token: str) -> str | None:
    stripped = token.strip()
    return stripped if stripped in ("A", "B") else None


def _log_mass(candidates: dict[str, float], letter: str) -> float:
    values = [lp for token, lp in candidates.items() if _letter(token) == letter]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def p_a_from_logprobs(top_logprobs: list[dict[str, float]] | None) -> float | None:
    """P(A) = softmax over the "A"/"B" candidates at the final verdict token, when known.

    The verdict position is the one among the last few tokens whose candidates put the most
    probability on A or B (a trailing end-of-sequence position has A/B, if at all, far down).
    Variants of a letter (" A", "A") are pooled. A letter missing from the top candidates counts
    as probability zero. None when no position lists A or B.
    """
    if not top_logprobs:
        return None
    best: tuple[float, float, float] | None = None  # (mass, log A, log B)
    for candidates in top_logprobs[-_VERDICT_SEARCH_WINDOW:]:
        log_a, log_b = _log_mass(candidates, "A"), _log_mass(candidates, "B")
        if log_a == -math.inf and log_b == -math.inf:
            continue
        mass = math.exp(log_a) + math.exp(log_b)
        if best is None or mass > best[0]:
            best = (mass, log_a, log_b)
    if best is None:
        return None
    _, log_a, log_b = best
    if log_b == -math.inf:
        return 1.0
    if log_a == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(log_b - log_a))
