"""The rules of the package's rooms (DEVELOPERS.md), read from the source's imports.

Every `import` and `from ... import` in arena/ counts, at module level or inside a function
(a lazy import is still a dependency), except those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "arena"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. arena.store.engine
    target: str  # what it imports, e.g. sqlalchemy.engine or arena.store.schema
    line: int

    def where(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(module, base, node.lineno)
            for alias in node.names:  # `from arena.store import answers` imports a module
                yield Import(module, f"{base}.{alias.name}", node.lineno)


def all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]


def is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_only_the_store_imports_sqlalchemy() -> None:
    offenders = [i.where() for i in all_imports()
                 if is_under(i.target, "sqlalchemy") and not is_under(i.module, "arena.store")]
    assert offenders == []


def offenders(module_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return [i.where() for i in all_imports()
            if is_under(i.module, module_prefix) and any(is_under(i.target, f) for f in forbidden)]


def test_backends_know_nothing_of_the_store_the_judge_or_ratings() -> None:
    assert offenders("arena.backends", ("arena.store", "arena.judge", "arena.ratings",
                                        "arena.generate", "arena.nightly", "arena.dashboard")) == []


def test_questions_know_nothing_of_models_or_the_store() -> None:
    assert offenders("arena.questions", ("arena.store", "arena.backends", "arena.judge",
                                         "arena.ratings", "arena.generate")) == []


def test_dashboard_data_never_imports_streamlit() -> None:
    assert offenders("arena.dashboard.data", ("streamlit", "plotly")) == []


def test_stages_do_not_import_the_command_line_or_the_dashboard() -> None:
    for room in ("arena.store", "arena.judge", "arena.ratings", "arena.generate", "arena.nightly",
                 "arena.questions", "arena.backends"):
        assert offenders(room, ("arena.cli", "arena.dashboard", "arena.demo")) == [], room


def test_the_store_does_not_import_the_stages_above_it() -> None:
    assert offenders("arena.store", ("arena.judge", "arena.ratings", "arena.generate",
                                     "arena.nightly", "arena.backends", "arena.battles_io")) == []


def test_nothing_in_the_package_edits_sys_path() -> None:
    edits = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if any(f"sys.path.{verb}" in path.read_text(encoding="utf-8") for verb in ("insert", "append"))]
    assert edits == []
