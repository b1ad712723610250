"""A small reader of GBNF text for tests: parses a grammar and samples or enumerates it.

A grammar is a `root` rule and, optionally, more named rules (one per line) that it refers to;
references are replaced by the rules they name (the grammars read here are not recursive).

It is written from llama.cpp's grammar format (strings, character classes, groups, alternation,
`? * + {m} {m,} {m,n}`, escapes \\xHH \\uHHHH \\n \\t \\r \\" \\\\ \\[ \\]), independently of
`arena.backends.gbnf`, so a test can check what the emitted grammar text admits rather than what
the translator meant it to admit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "[": "[", "]": "]", "-": "-", "^": "^"}
# the alphabet a negated class draws from when sampling (printable ASCII, tab, newline, a few others)
SAMPLE_ALPHABET = [chr(c) for c in range(32, 127)] + ["\t", "\n", "é", "—"]


@dataclass(frozen=True)
class G:
    kind: str  # "text", "chars", "seq", "alt", "rep"
    text: str = ""
    ranges: tuple[tuple[int, int], ...] = ()
    negated: bool = False
    items: tuple[G, ...] = ()
    low: int = 0
    high: int | None = None


class Reader:
    def __init__(self, body: str) -> None:
        self.s = body.strip()
        self.i = 0

    def skip(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def parse(self) -> G:
        node = self.alt()
        self.skip()
        assert self.i == len(self.s), f"trailing text at {self.i}: {self.s[self.i:]!r}"
        return node

    def alt(self) -> G:
        options = [self.seq()]
        self.skip()
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            options.append(self.seq())
            self.skip()
        return options[0] if len(options) == 1 else G("alt", items=tuple(options))

    def seq(self) -> G:
        items = []
        while True:
            self.skip()
            if self.i >= len(self.s) or self.s[self.i] in "|)":
                break
            items.append(self.postfix(self.primary()))
        return items[0] if len(items) == 1 else G("seq", items=tuple(items))

    def char(self) -> str:
        c = self.s[self.i]
        self.i += 1
        if c != "\\":
            return c
        e = self.s[self.i]
        self.i += 1
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        if width:
            value = chr(int(self.s[self.i:self.i + width], 16))
            self.i += width
            return value
        return ESCAPES[e]

    def primary(self) -> G:
        c = self.s[self.i]
        if c == "(":
            self.i += 1
            node = self.alt()
            self.skip()
            assert self.s[self.i] == ")"
            self.i += 1
            return node
        if c == '"':
            self.i += 1
            out = []
            while self.s[self.i] != '"':
                out.append(self.char())
            self.i += 1
            return G("text", text="".join(out))
        if c == "[":
            self.i += 1
            negated = self.s[self.i] == "^"
            if negated:
                self.i += 1
            ranges = []
            while self.s[self.i] != "]":
                low = self.char()
                high = low
                if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                    self.i += 1
                    high = self.char()
                ranges.append((ord(low), ord(high)))
            self.i += 1
            return G("chars", ranges=tuple(ranges), negated=negated)
        if c.isalpha():
            start = self.i
            while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "-"):
                self.i += 1
            return G("ref", text=self.s[start:self.i])
        raise AssertionError(f"unexpected {c!r} at {self.i} in {self.s!r}")

    def postfix(self, node: G) -> G:
        while self.i < len(self.s) and self.s[self.i] in "?*+{":
            c = self.s[self.i]
            self.i += 1
            if c == "?":
                node = G("rep", items=(node,), low=0, high=1)
            elif c == "*":
                node = G("rep", items=(node,), low=0, high=None)
            elif c == "+":
                node = G("rep", items=(node,), low=1, high=None)
            else:
                end = self.s.index("}", self.i)
                low, comma, high = self.s[self.i:end].partition(",")
                self.i = end + 1
                node = G("rep", items=(node,), low=int(low),
                         high=(None if comma and not high else int(high) if comma else int(low)))
        return node


def read(grammar: str) -> G:
    rules: dict[str, G] = {}
    for line in grammar.strip().splitlines():
        name, sep, body = line.partition("::=")
        assert sep, f"expected NAME ::= BODY: {line!r}"
        rules[name.strip()] = Reader(body).parse()
    assert "root" in rules, f"no root rule: {grammar!r}"
    return _resolve(rules["root"], rules)


def _resolve(node: G, rules: dict[str, G]) -> G:
    if node.kind == "ref":
        return _resolve(rules[node.text], rules)
    if not node.items:
        return node
    return G(node.kind, node.text, node.ranges, node.negated, tuple(_resolve(i, rules) for i in node.items),
             node.low, node.high)


def members(node: G) -> list[str]:
    """Every character a class admits (negated classes: those of SAMPLE_ALPHABET outside it)."""
    inside = [chr(c) for low, high in node.ranges for c in range(low, high + 1)]
    if not node.negated:
        return inside
    return [c for c in SAMPLE_ALPHABET if c not in set(inside)]


def sample(node: G, rng: random.Random, unbounded: int = 6) -> str:
    """One random string the grammar admits; repeat counts are often at their bounds."""
    if node.kind == "text":
        return node.text
    if node.kind == "chars":
        return rng.choice(members(node))
    if node.kind == "seq":
        return "".join(sample(item, rng, unbounded) for item in node.items)
    if node.kind == "alt":
        return sample(rng.choice(node.items), rng, unbounded)
    high = node.high if node.high is not None else node.low + unbounded
    count = rng.choice([node.low, high, rng.randint(node.low, high)])
    return "".join(sample(node.items[0], rng, unbounded) for _ in range(count))


def enumerate_all(node: G, limit: int = 100_000) -> set[str]:
    """Every string a finite grammar admits (bounded repeats only)."""
    if node.kind == "text":
        return {node.text}
    if node.kind == "chars":
        return set(members(node))
    if node.kind == "alt":
        return set().union(*(enumerate_all(item, limit) for item in node.items))
    if node.kind == "seq":
        out = {""}
        for item in node.items:
            out = {a + b for a in out for b in enumerate_all(item, limit)}
            assert len(out) <= limit
        return out
    assert node.high is not None, "unbounded repeat"
    inner = enumerate_all(node.items[0], limit)
    out, level = set(), {""}
    for count in range(node.high + 1):
        if count >= node.low:
            out |= level
        level = {a + b for a in level for b in inner}
        assert len(out) + len(level) <= limit
    return out
