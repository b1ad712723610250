"""Reading the judge's output: the strict verdict parser, the matching regex, and P(A).

A verdict is valid only when the output
- holds exactly one `[RESULT]` marker (prometheus-eval's own parser splits on it and wants two
  parts), which ends the output as `[RESULT] A` or `[RESULT] B` (trailing whitespace allowed;
  `[RESULT] B.` is invalid);
- has at least `MIN_FEEDBACK_CHARS` characters of feedback before it: a verdict with no
  reasoning is not a judgment;
- did not stop on `max_tokens` (finish reason "length"): a cut-off output is retried.

The regex for constrained decoding admits only outputs this parser accepts (property-tested):
feedback of any Unicode text that cannot contain the marker, starting and ending with a
non-space character, then ` [RESULT] A|B` and nothing after. Its length cap is derived from
`max_tokens` (see `feedback_cap`) and is far above what a judge ordinarily writes; an output
that runs out of tokens before its verdict is invalid and retried with a new seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MARKER = "[RESULT]"
MIN_FEEDBACK_CHARS = 20
# The feedback cap, in characters per token of the output budget. English feedback runs at
# about 4 characters per token with Llama/Mistral tokenizers, so a cap of 3 per token (3,036
# characters, some 500 words, at max_tokens=1024: about twice the longest feedback Prometheus 2
# usually writes) binds only once most of the budget is spent, and ordinary prose then still has
# room for the marker. Text at fewer characters per token (byte-fallback scripts) can run out of
# tokens first: finish reason "length", invalid, retried.
FEEDBACK_CHARS_PER_TOKEN = 3
# the marker " [RESULT] A" is 11 characters, at most 11 tokens; one more for safety
_MARKER_TOKENS = 12
# Every character Python's str.strip() removes (str.isspace), so the regex and the parser agree
# on where feedback starts and ends.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_FINAL_VERDICT = re.compile(r"\[RESULT\] (A|B)\s*\Z")
# the verdict token is the last or, when the end-of-sequence token is reported too, next to last
_VERDICT_SEARCH_WINDOW = 3


@dataclass(frozen=True)
class ParsedVerdict:
    verdict: str | None  # "A", "B", or None when the output is invalid
    feedback: str
    problem: str | None = None  # why the output is invalid

    @property
    def valid(self) -> bool:
        return self.verdict is not None


def parse_verdict(output: str, finish_reason: str | None = None) -> ParsedVerdict:
    """The final verdict of a judge output and the feedback before it (strict, see above)."""
    match = _FINAL_VERDICT.search(output)
    if match is None:
        return ParsedVerdict(None, output.strip(), "no final [RESULT] A or [RESULT] B")
    feedback = output[: match.start()].strip()
    if output.count(MARKER) > 1:
        return ParsedVerdict(None, feedback, "more than one [RESULT] marker")
    if len(feedback) < MIN_FEEDBACK_CHARS:
        return ParsedVerdict(None, feedback, f"feedback shorter than {MIN_FEEDBACK_CHARS} characters")
    if finish_reason == "length":
        return ParsedVerdict(None, feedback, "stopped on max_tokens")
    return ParsedVerdict(verdict=match.group(1), feedback=feedback)


def feedback_cap(max_tokens: int) -> int:
    """The most feedback characters the regex admits: the budget after the marker, 3 per token.

    (A "[" and the few characters after it that show it starts no marker count as one.)
    """
    return max(MIN_FEEDBACK_CHARS, (max_tokens - _MARKER_TOKENS) * FEEDBACK_CHARS_PER_TOKEN)


def _class(excluded: str) -> str:
    """A negated character class, every excluded character escaped as \\uXXXX."""
    return "[^" + "".join(f"\\u{ord(ch):04x}" for ch in excluded) + "]"


def _no_marker_unit() -> str:
    """One piece of marker-free text: a character other than "[", or "[" with what follows it.

    A "[" is followed by a proper prefix of "RESULT]" and then a character that breaks the
    match (never "[", which could start a marker of its own), so no run of units contains
    "[RESULT]". Written without lookahead, which structured-output engines do not support.
    """
    word = MARKER[1:]  # "RESULT]"
    after_bracket = [f"{re.escape(word[:i])}{_class('[' + word[i])}" for i in range(len(word))]
    return f"(?:{_class('[')}|\\[(?:{'|'.join(after_bracket)}))"


def verdict_regex(max_tokens: int) -> str:
    """The output format as a regex for structured outputs: feedback, then exactly one final verdict."""
    edge = _class("[" + WHITESPACE)  # first and last feedback character
    inner = f"{_no_marker_unit()}{{{MIN_FEEDBACK_CHARS - 2},{feedback_cap(max_tokens) - 2}}}"
    return f"{edge}{inner}{edge} \\[RESULT\\] (A|B)"


def plain_verdict_regex(max_tokens: int) -> str:
    """A stricter form for engines with simple regex support (OpenVINO's structured outputs reject
    character classes with non-ASCII members and compile `verdict_regex`'s alternation slowly):
    feedback without any "[", its edges not ASCII whitespace. Its ASCII outputs all parse valid;
    an output edged with other Unicode whitespace may not (`parse_verdict` still checks, and such
    an output is retried like any invalid one)."""
    edge = _class("[" + "".join(ch for ch in WHITESPACE if ord(ch) < 0x80))
    inner = f"{_class('[')}{{{MIN_FEEDBACK_CHARS - 2},{feedback_cap(max_tokens) - 2}}}"
    return f"{edge}{inner}{edge} \\[RESULT\\] (A|B)"


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
