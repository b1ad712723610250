"""The regex-to-GBNF translation: what the emitted grammar admits always matches the regex.

The judge's verdict regex is checked against the strict verdict parser: every string the grammar
admits (all of them for a short bound, thousands of samples for the real one) parses as a valid
verdict. The grammar text is read back by an independent GBNF reader (`gbnf_sampler`), and by
llama.cpp's own parser where llama-cpp-python is installed.
"""

from __future__ import annotations

import importlib.util
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.backends.gbnf import UnsupportedRegex, regex_to_gbnf
from arena.backends.openai import LLAMA_CPP_MAX_REPETITION
from arena.judge.verdict import MIN_FEEDBACK_CHARS, feedback_cap, parse_verdict, verdict_regex
from tests.backends.gbnf_sampler import SAMPLE_ALPHABET, enumerate_all, read, sample

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None


def test_the_shortest_verdicts_of_the_grammar_are_valid_and_the_shorter_are_refused() -> None:
    regex = verdict_regex(13)  # the cap falls back to the minimum feedback length
    assert feedback_cap(13) == MIN_FEEDBACK_CHARS
    grammar = read(regex_to_gbnf(regex))
    rng = random.Random(13)
    for _ in range(400):
        text = sample(grammar, rng)
        assert re.fullmatch(regex, text) and parse_verdict(text).valid, repr(text)
    assert not re.fullmatch(regex, "x" * (MIN_FEEDBACK_CHARS - 1) + " [RESULT] A")


@pytest.mark.parametrize("max_tokens", [14, 64, 1024])
def test_sampled_strings_of_the_verdict_grammar_parse(max_tokens: int) -> None:
    regex = verdict_regex(max_tokens)
    grammar = read(regex_to_gbnf(regex))
    rng = random.Random(max_tokens)
    for _ in range(400):
        text = sample(grammar, rng)
        assert re.fullmatch(regex, text), repr(text)
        parsed = parse_verdict(text)
        assert parsed.valid and parsed.verdict in ("A", "B"), repr(text)
        # a "[" and the characters showing it starts no marker (up to "[RESULT" + one) count as one
        assert MIN_FEEDBACK_CHARS <= len(parsed.feedback) <= len("[RESULT") * feedback_cap(max_tokens)


@pytest.mark.parametrize("regex", [
    r"[a-z ]{1,12}\[RESULT\] (A|B)",
    r"(?:yes|no)\.?\s*",
    r"\d{2,4}-\w+",
    r"[^\n\"]+x{2,}.",
    r"a(|b)c*?",
    r"[]a-]\\\.\{\}",
    r"caf\u00e9 [\x41-\x43]{3}",
    r"(A|B|(C|D)+)?{",
])
def test_translated_grammars_admit_only_matching_strings(regex: str) -> None:
    grammar = read(regex_to_gbnf(regex))
    rng = random.Random(regex)
    for _ in range(300):
        text = sample(grammar, rng)
        assert re.fullmatch(regex, text), (regex, text)


def test_negated_classes_exclude_what_they_name() -> None:
    grammar = read(regex_to_gbnf(r"[^ab\n]"))
    assert enumerate_all(grammar) == {c for c in SAMPLE_ALPHABET if c not in "ab\n"}


@pytest.mark.parametrize("regex", [
    r"(?=a)b", r"(a)\1", r"^a", r"a$", r"\bword", r"(?i)a", r"[^\w]", r"[[:alpha:]]", r"a{3,2}", r"(a", r"a)",
    r"[z-a]", r"*a", r"a++",
])
def test_constructs_outside_the_subset_are_refused(regex: str) -> None:
    with pytest.raises(UnsupportedRegex):
        regex_to_gbnf(regex)


def test_literal_text_is_one_string() -> None:
    grammar = regex_to_gbnf(verdict_regex(1024))
    assert '" [RESULT] " ("A" | "B"))\n' in grammar
    assert f"{{{MIN_FEEDBACK_CHARS - 2},{feedback_cap(1024) - 2}}}" in grammar


@pytest.fixture(scope="module")
def llama_cpp_vocab(smollm2_gguf: Path) -> Iterator[Any]:
    """A llama.cpp vocabulary (the real GGUF's, vocabulary only): grammars are parsed against one."""
    if not HAS_LLAMA_CPP:
        pytest.skip("llama-cpp-python is not installed (bash scripts/setup.sh builds it)")
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(smollm2_gguf), vocab_only=True, verbose=False)
    try:
        yield llama_cpp.llama_model_get_vocab(model.model)
    finally:
        model.close()


def llama_cpp_accepts(vocab: Any, grammar: str) -> bool:
    """Whether llama.cpp's own grammar parser builds a sampler from `grammar` (it refuses with NULL)."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


@pytest.mark.parametrize("regex", [verdict_regex(96), verdict_regex(1024), verdict_regex(4096),
                                   r"(?:yes|no)\.?\s*", r"[^\n\"]+x{2,}.", r"a(|b)c*?"])
def test_llama_cpp_parses_the_grammars_it_is_sent(llama_cpp_vocab: Any, regex: str) -> None:
    assert llama_cpp_accepts(llama_cpp_vocab, regex_to_gbnf(regex, max_repetition=LLAMA_CPP_MAX_REPETITION))


def test_llama_cpp_refuses_a_repeated_group_written_inline(llama_cpp_vocab: Any) -> None:
    """Why a repeated group becomes a rule of its own: inline, its rules times the count is too many."""
    root, item = regex_to_gbnf(verdict_regex(96)).splitlines()
    inline = root.replace("item1", "(" + item.partition("::= ")[2] + ")")
    assert not llama_cpp_accepts(llama_cpp_vocab, inline + "\n")


def test_long_bounds_are_lowered_to_the_limit_and_still_admit_only_valid_verdicts() -> None:
    grammar_text = regex_to_gbnf(verdict_regex(4096), max_repetition=LLAMA_CPP_MAX_REPETITION)
    assert f"{{{MIN_FEEDBACK_CHARS - 2},{LLAMA_CPP_MAX_REPETITION}}}" in grammar_text
    grammar = read(grammar_text)
    rng = random.Random(4096)
    for _ in range(200):
        text = sample(grammar, rng)
        assert re.fullmatch(verdict_regex(4096), text) and parse_verdict(text).valid, repr(text)
    with pytest.raises(UnsupportedRegex, match="exceeds the limit"):
        regex_to_gbnf("a{30,40}", max_repetition=20)
