"""Style covariates counted as arena-hard-auto counts them: code blocks removed first."""

from __future__ import annotations

from arena.answer_style import AnswerStyle, answer_style, style_columns

MARKDOWN = """# Chest pain
## When to call 999

- crushing pain
* sweating
  + left arm pain
1. Sit down.
2. Chew an aspirin, **unless** you are __allergic__.

```
# not a header
- not an item **not bold**
```
**Seek care now.** #not-a-header 3.not-an-item
"""


def test_headers_list_items_and_bold_outside_code_blocks() -> None:
    assert answer_style(MARKDOWN, 120) == AnswerStyle(tokens=120, headers=2, list_items=5, bold=3)


def test_plain_text_has_no_markdown_and_unknown_tokens_stay_unknown() -> None:
    assert answer_style("Rest and drink fluids.", None) == AnswerStyle(None, 0, 0, 0)


def test_battle_columns_name_each_side() -> None:
    columns = style_columns(AnswerStyle(10, 1, 2, 3), AnswerStyle(None, 4, 5, 6))
    assert columns == {"answer_a_tokens": 10, "answer_b_tokens": None, "answer_a_headers": 1,
                       "answer_b_headers": 4, "answer_a_list_items": 2, "answer_b_list_items": 5,
                       "answer_a_bold": 3, "answer_b_bold": 6}
