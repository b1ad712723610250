"""Which model pairs meet on which question, and how two verdicts make one battle.

Each (question, model pair) is judged in both orders: X shown as Response A, then Y. A model
that wins both orders wins the battle; a split is a tie. This is how FastChat's MT-Bench judge
and M42's MEDIC cancel the judge's position bias.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from typing import Literal

Order = Literal["ab", "ba"]  # "ab": X (the first name in sorted order) shown as Response A
ORDERS: tuple[Order, Order] = ("ab", "ba")
Winner = Literal["model_a", "model_b", "tie"]


def model_pairs(model_names: Iterable[str]) -> list[tuple[str, str]]:
    """Every unordered pair once, each as (X, Y) with X < Y, in sorted order."""
    return list(itertools.combinations(sorted(set(model_names)), 2))


def select_pairs(
    question_ids: Sequence[str],
    model_names: Iterable[str],
    mode: Literal["all", "sample"] = "all",
    per_question: int = 3,
    seed: int = 0,
) -> list[tuple[str, str, str]]:
    """(question id, X, Y) to judge, grouped by question so a question's prompts stay adjacent.

    `all` takes every pair on every question. `sample` draws `per_question` pairs per question
    with a generator seeded by (seed, question id): the same draw on every run and machine.
    """
    pairs = model_pairs(model_names)
    selected: list[tuple[str, str, str]] = []
    for question_id in question_ids:
        chosen = pairs
        if mode == "sample" and per_question < len(pairs):
            rng = random.Random(f"{seed}:{question_id}")
            picked = set(rng.sample(range(len(pairs)), per_question))
            chosen = [pair for index, pair in enumerate(pairs) if index in picked]
        selected.extend((question_id, x, y) for x, y in chosen)
    return selected


def winning_model(order: Order, verdict: str) -> Literal["x", "y"]:
    """Which model a verdict favours: in order "ab" Response A is X, in "ba" it is Y."""
    shown_first: Literal["x", "y"] = "x" if order == "ab" else "y"
    shown_second: Literal["x", "y"] = "y" if order == "ab" else "x"
    return shown_first if verdict == "A" else shown_second


def battle_winner(verdict_ab: str, verdict_ba: str) -> Winner:
    """The both-orders rule: X or Y must win in both orders, otherwise the battle is a tie."""
    first, second = winning_model("ab", verdict_ab), winning_model("ba", verdict_ba)
    if first != second:
        return "tie"
    return "model_a" if first == "x" else "model_b"


def orders_disagree(verdict_ab: str, verdict_ba: str) -> bool:
    """True when the two orders favour different models (position inconsistency)."""
    return winning_model("ab", verdict_ab) != winning_model("ba", verdict_ba)
