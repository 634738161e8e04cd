"""Selectors read, services write: a selector never imports a service.

Services may import selectors (a service reads before it writes); the reverse would let a page's
read reach a state change, and would make the two packages import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

SELECTORS = Path(__file__).resolve().parent.parent / "moderation" / "selectors"
SERVICES = "moderation.services"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from within moderation.selectors
                base = "moderation.selectors" if node.level == 1 else "moderation"
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def reaches_services(module: str) -> bool:
    return module == SERVICES or module.startswith(SERVICES + ".")


def test_no_selector_imports_a_service():
    selectors = sorted(SELECTORS.rglob("*.py"))
    assert len(selectors) > 5
    found = [
        f"{path.relative_to(SELECTORS.parent.parent).as_posix()}:{line}: imports {module}"
        for path in selectors
        for line, module in imported_modules(path)
        if reaches_services(module)
    ]
    assert not found, "selectors importing services:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import moderation.services.removals\n"
        "from moderation import services\n"
        "def f():\n"
        "    from moderation.services.removals import is_stalled\n"
        "from ..services import audit\n"
        "from moderation.selectors.ledger import read_ledger\n",
        encoding="utf-8",
    )
    lines = sorted({line for line, module in imported_modules(sample) if reaches_services(module)})
    assert lines == [1, 2, 4, 5]
