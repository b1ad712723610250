"""Style covariates counted as arena-hard-auto counts them: code blocks removed first."""

from __future__ import annotations

from arena.answers import AnswerStyle, answer_style

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

