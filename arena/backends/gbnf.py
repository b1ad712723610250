"""Regular expressions as llama.cpp grammars (GBNF), so llama.cpp servers can constrain decoding.

The judge asks for constrained verdicts with a regular expression (`GenerationRequest.regex`,
from `arena.judge.verdict.verdict_regex`); vLLM and OpenVINO take the regex as is, llama.cpp
takes a GBNF grammar. This module translates the regex rather than keeping a second hand-written
grammar, so the regex stays the one description of a valid verdict: when it changes, the grammar
follows. The translation covers the regex subset such formats need: literals and escapes,
character classes (ranges, negation, \\d \\s \\w), `.`, groups, alternation and the quantifiers
`? * + {n} {n,} {n,m}`. Anything else (anchors inside, backreferences, lookarounds, flags) raises
`UnsupportedRegex`, never a looser grammar.

The grammar admits a subset of what the regex fully matches: \\d, \\s and \\w become their
ASCII classes (Python's are Unicode, a superset), and they are refused inside negated classes,
where narrowing would widen. So every output llama.cpp produces under the grammar also matches
the regex (tested by sampling the emitted grammar and by a real llama.cpp server).

llama.cpp expands a counted repetition `X{m,n}` into about n copies of the rules X makes, and
refuses a grammar where that product passes about 2,000 ("number of repetitions exceeds sane
defaults"; llama-cpp-python's server dies on it). So a repeated group is written as a rule of its
own (one rule, however complex), and `max_repetition` lowers larger upper bounds to it: the grammar
then admits a subset of the regex still, only with a shorter maximum (for the judge's verdict, a
shorter cap on the feedback).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

MAX_CODEPOINT = 0x10FFFF
ASCII_CLASSES = {
    "d": ((ord("0"), ord("9")),),
    "s": ((ord(" "), ord(" ")), (ord("\t"), ord("\r"))),  # space, \t \n \v \f \r
    "w": ((ord("0"), ord("9")), (ord("A"), ord("Z")), (ord("_"), ord("_")), (ord("a"), ord("z"))),
}
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}


class UnsupportedRegex(ValueError):
    """The regex uses a construct this translation does not cover."""


@dataclass(frozen=True)
class Chars:
    """One character from a set of inclusive code point ranges (or from outside them)."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Sequence:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Choice:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    item: Node
    minimum: int
    maximum: int | None  # None: unbounded


Node = Chars | Text | Sequence | Choice | Repeat


class _Parser:
    """Recursive descent over the regex: choice := sequence ('|' sequence)*."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0

    def fail(self, what: str) -> UnsupportedRegex:
        return UnsupportedRegex(f"{what} at position {self.at} of {self.pattern!r}")

    def peek(self) -> str | None:
        return self.pattern[self.at] if self.at < len(self.pattern) else None

    def take(self) -> str:
        if self.at >= len(self.pattern):
            raise self.fail("unexpected end")
        char = self.pattern[self.at]
        self.at += 1
        return char

    def parse(self) -> Node:
        node = self.choice()
        if self.peek() is not None:
            raise self.fail(f"unbalanced {self.peek()!r}")
        return node

    def choice(self) -> Node:
        options = [self.sequence()]
        while self.peek() == "|":
            self.take()
            options.append(self.sequence())
        return options[0] if len(options) == 1 else Choice(tuple(options))

    def sequence(self) -> Node:
        items: list[Node] = []
        while self.peek() not in (None, "|", ")"):
            item = self.quantified(self.atom())
            if isinstance(item, Text) and items and isinstance(items[-1], Text):
                items[-1] = Text(items[-1].value + item.value)  # "ab" rather than "a" "b"
            else:
                items.append(item)
        if not items:
            return Text("")
        return items[0] if len(items) == 1 else Sequence(tuple(items))

    def atom(self) -> Node:
        char = self.take()
        if char == "(":
            if self.peek() == "?":
                self.take()
                if self.take() != ":":
                    raise self.fail("only (?:...) groups are supported")
            node = self.choice()
            if self.take() != ")":
                raise self.fail("expected )")
            return node
        if char == "[":
            return self.char_class()
        if char == ".":
            return Chars(((ord("\n"), ord("\n")),), negated=True)
        if char == "\\":
            return self.escape()
        if char in "^$":
            raise self.fail(f"anchor {char!r}")
        if char in "*+?":
            raise self.fail(f"nothing to repeat before {char!r}")
        return Text(char)

    def escape(self) -> Node:
        char = self.take()
        if char in ASCII_CLASSES:
            return Chars(ASCII_CLASSES[char])
        if char in ESCAPES:
            return Text(ESCAPES[char])
        if char == "x":
            return Text(chr(self.hex_digits(2)))
        if char == "u":
            return Text(chr(self.hex_digits(4)))
        if char.isalnum():
            raise self.fail(f"escape \\{char}")
        return Text(char)  # an escaped punctuation character stands for itself

    def hex_digits(self, count: int) -> int:
        digits = self.pattern[self.at:self.at + count]
        if len(digits) != count or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise self.fail("bad hex escape")
        self.at += count
        return int(digits, 16)

    def class_member(self) -> Node:
        char = self.take()
        if char == "\\":
            return self.escape()
        return Text(char)

    def char_class(self) -> Chars:
        negated = self.peek() == "^"
        if negated:
            self.take()
        ranges: list[tuple[int, int]] = []
        first = True
        while first or self.peek() != "]":
            if self.peek() is None:
                raise self.fail("unterminated character class")
            if self.pattern.startswith("[:", self.at):
                raise self.fail("POSIX classes")
            member = self.class_member()
            first = False
            if isinstance(member, Chars):
                if negated:
                    raise self.fail("a shorthand class inside a negated class")
                ranges.extend(member.ranges)
                continue
            assert isinstance(member, Text)
            low = ord(member.value)
            if self.peek() == "-" and self.pattern[self.at + 1:self.at + 2] not in ("]", ""):
                self.take()
                high_member = self.class_member()
                if not isinstance(high_member, Text):
                    raise self.fail("a shorthand class as a range end")
                high = ord(high_member.value)
                if high < low:
                    raise self.fail("a reversed range")
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        self.take()  # the closing ]
        return Chars(tuple(sorted(set(ranges))), negated)

    def quantified(self, node: Node) -> Node:
        while True:
            char = self.peek()
            if char == "?":
                self.take()
                node = Repeat(node, 0, 1)
            elif char == "*":
                self.take()
                node = Repeat(node, 0, None)
            elif char == "+":
                self.take()
                node = Repeat(node, 1, None)
            elif char == "{" and self.counted_ahead():
                node = self.counted(node)
            else:
                return node
            if self.peek() == "?":  # lazy: the same strings under a full match
                self.take()
            elif self.peek() == "+":
                raise self.fail("possessive quantifiers")

    def counted_ahead(self) -> bool:
        end = self.pattern.find("}", self.at)
        inside = self.pattern[self.at + 1:end] if end > 0 else ""
        low, _, high = inside.partition(",")
        return bool(low.isdigit() and (high == "" or high.isdigit()))

    def counted(self, node: Node) -> Repeat:
        end = self.pattern.index("}", self.at)
        low, comma, high = self.pattern[self.at + 1:end].partition(",")
        self.at = end + 1
        minimum = int(low)
        maximum = None if comma and not high else int(high) if comma else minimum
        if maximum is not None and maximum < minimum:
            raise self.fail("a repeat whose maximum is below its minimum")
        return Repeat(node, minimum, maximum)


def parse_regex(pattern: str) -> Node:
    """The regex as a small tree (what `to_gbnf` writes out)."""
    return _Parser(pattern).parse()


def _char(code: int, in_class: bool) -> str:
    char = chr(code)
    if char.isalnum() and code < 128:
        return char
    special = '"\\[]-^' if in_class else '"\\'
    if code < 0x80 and char.isprintable() and char not in special and not (in_class and char == " "):
        return char
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


@dataclass
class _Writer:
    """Writes nodes as GBNF; repeated groups become rules of their own (`rules`, by name)."""

    max_repetition: int | None
    rules: dict[str, str]

    def emit(self, node: Node) -> str:
        if isinstance(node, Text):
            return '"' + "".join(_char(ord(c), in_class=False) for c in node.value) + '"'
        if isinstance(node, Chars):
            body = "".join(_char(low, True) if low == high else f"{_char(low, True)}-{_char(high, True)}"
                           for low, high in node.ranges)
            return f"[{'^' if node.negated else ''}{body}]"
        if isinstance(node, Sequence):
            return "(" + " ".join(self.emit(item) for item in node.items) + ")"
        if isinstance(node, Choice):
            return "(" + " | ".join(self.emit(option) for option in node.options) + ")"
        return _repeat(self.item(node.item), self.bounded(node))

    def item(self, node: Node) -> str:
        """A repeated item: a class or literal as is, anything larger as a rule of its own."""
        text = self.emit(node)
        if isinstance(node, (Chars, Text)):
            return text
        name = next((n for n, body in self.rules.items() if body == text), None)
        if name is None:
            name = f"item{len(self.rules) + 1}"
            self.rules[name] = text
        return name

    def bounded(self, node: Repeat) -> Repeat:
        limit = self.max_repetition
        if limit is None or (node.maximum is not None and node.maximum <= limit):
            return node
        if node.minimum > limit:
            raise UnsupportedRegex(f"a repetition of at least {node.minimum} exceeds the limit of {limit}")
        return Repeat(node.item, node.minimum, min(node.maximum, limit) if node.maximum is not None else None)


def _repeat(item: str, node: Repeat) -> str:
    if (node.minimum, node.maximum) == (0, 1):
        return f"{item}?"
    if (node.minimum, node.maximum) == (0, None):
        return f"{item}*"
    if (node.minimum, node.maximum) == (1, None):
        return f"{item}+"
    if node.maximum is None:
        return f"{item}{{{node.minimum},}}"
    if node.maximum == node.minimum:
        return f"{item}{{{node.minimum}}}"
    return f"{item}{{{node.minimum},{node.maximum}}}"


@lru_cache(maxsize=32)
def regex_to_gbnf(pattern: str, max_repetition: int | None = None) -> str:
    """A GBNF grammar whose `root` admits only strings that fully match `pattern`.

    `max_repetition` lowers larger upper bounds of counted repetitions to it (see the module).
    """
    writer = _Writer(max_repetition, {})
    root = writer.emit(parse_regex(pattern))
    return "".join(f"{name} ::= {body}\n" for name, body in {"root": root, **writer.rules}.items())
