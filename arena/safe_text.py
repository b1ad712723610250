"""Text from outside (model names, questions, answers, judge output) made harmless where it is shown.

Model names and texts come from project files, imported battles and models themselves, so they
may be written to look like Markdown (`[pwn](http://evil)` would render as a live link in the
dashboard's headline) or like a spreadsheet formula (`=HYPERLINK(...)` runs when a CSV export is
opened in Excel or LibreOffice). `markdown_text` is the one escaping for every place such text is
shown as Markdown; `csv_cell` is the one neutralising for every CSV cell arena writes, and
`csv_text` undoes it when arena reads a CSV file back (`arena battles import`).
"""

from __future__ import annotations

import re
from typing import Any

# Markdown's inline syntax, Streamlit's extras (`$` maths, `:color[...]`) and HTML: each is
# backslash-escaped (CommonMark allows that for any ASCII punctuation).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]{}()<>#|~$!])")
_LINE_START = re.compile(r"^([-+=])")  # a list item or a heading underline only there
# Bare addresses that GitHub-flavoured Markdown turns into links without any brackets.
_AUTOLINKS = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=www)(\.)")
# A formula's first character, after any apostrophes: such a text gets one more apostrophe in a
# CSV cell, so that reading the cell back (`csv_text`) can take exactly that one away.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED_FORMULA = re.compile(r"'+[=+\-@\t\r]")


def markdown_text(text: object, *, keep_lines: bool = False) -> str:
    """`text` shown literally inside Markdown: no links, emphasis, headings, HTML or maths.

    On one line (newlines become spaces) unless `keep_lines`, where each newline is a hard break.
    """
    lines = [escape_line(line.strip()) for line in str(text).splitlines()] or [""]
    return "  \n".join(lines) if keep_lines else " ".join(line for line in lines if line)


def escape_line(line: str) -> str:
    escaped = _LINE_START.sub(r"\\\1", _MARKDOWN_SPECIALS.sub(r"\\\1", line))
    return _AUTOLINKS.sub(lambda m: "\\" + (m.group(1) or m.group(2)), escaped)


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula: a text starting with = + - @, a tab
    or a carriage return gets a leading apostrophe (OWASP's advice), and so does one that starts
    with apostrophes before such a character, so `csv_text` is its exact inverse. Numbers are
    left as they are."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def csv_text(cell: str) -> str:
    """A CSV cell's text as it was before `csv_cell`: the one apostrophe added before a formula
    taken away (a spreadsheet treats it as a marker, not as part of the text, too)."""
    return cell[1:] if _ESCAPED_FORMULA.match(cell) else cell


def csv_row(record: dict[str, Any]) -> dict[str, Any]:
    """Every cell of a CSV record through `csv_cell`, None as an empty cell."""
    return {key: "" if value is None else csv_cell(value) for key, value in record.items()}
