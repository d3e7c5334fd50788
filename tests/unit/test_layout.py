"""Dependencies point one way: app -> ingest -> rag. rag never imports streamlit."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"), [("rag", {"ingest", "app", "streamlit"}), ("ingest", {"app", "streamlit"})]
)
def test_dependency_direction(package, forbidden):
    bad = sorted((f, m) for f, m in imported_modules(package) if m in forbidden)
    assert bad == []


def test_rag_exports_are_sorted():
    import rag

    assert rag.__all__ == sorted(rag.__all__)
    assert all(hasattr(rag, name) for name in rag.__all__)
