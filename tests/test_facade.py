"""The facade is the only way in: no module above ``Pipeline`` touches a backend.

The layers above it (``api``, ``dashboard``, ``cli``, ``server``, and ``aws``, whose
Lambda handlers call a ``Pipeline`` too) ask the facade for every read and write;
``pipeline.py`` and the packages it is built on keep the backend to themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shipline

PACKAGE = Path(shipline.__file__).parent

BELOW_THE_FACADE = frozenset(
    {"events", "generate", "ingest", "loader", "monitor", "notify", "store", "timeline"}
)
"""The packages under ``Pipeline``: they take a ``Backend`` and may use it."""

ABOVE_THE_FACADE = frozenset({"api", "aws", "cli", "dashboard", "server"})
"""The packages that call ``Pipeline``; every module here is checked, like any other
module outside ``BELOW_THE_FACADE``."""


def checked_modules(package: Path) -> list[Path]:
    """Every module of ``package`` but ``pipeline.py`` and those below the facade."""
    return [
        path
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] not in BELOW_THE_FACADE | {"pipeline.py"}
    ]


def backend_accesses(path: Path, root: Path) -> list[str]:
    """``file:line`` of each ``.backend`` (or ``getattr(..., "backend")``) in ``path``."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        named = isinstance(node, ast.Attribute) and node.attr == "backend"
        fetched = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr"}
            and any(isinstance(a, ast.Constant) and a.value == "backend" for a in node.args)
        )
        if named or fetched:
            lines.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(lines, key=lambda line: int(line.rsplit(":", 1)[1]))


def leaks(package: Path) -> list[str]:
    """Every place outside the facade and the layers below it that reaches a backend."""
    return [line for path in checked_modules(package) for line in backend_accesses(path, package)]


def test_no_module_above_the_facade_reaches_its_backend() -> None:
    found = leaks(PACKAGE)
    where = "".join(f"\n  src/shipline/{line}" for line in found)
    assert not found, f"reached past the facade; call a Pipeline method instead:{where}"


def test_every_layer_above_the_facade_is_checked() -> None:
    checked = {path.relative_to(PACKAGE).parts[0] for path in checked_modules(PACKAGE)}
    assert checked >= ABOVE_THE_FACADE
    assert not checked & BELOW_THE_FACADE and "pipeline.py" not in checked
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert packages >= BELOW_THE_FACADE, "a package below the facade was renamed or removed"


def test_a_leak_is_named_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "tables.py").write_text(
        "def tables(pipeline):\n"
        "    return pipeline.backend.tables()\n"
        "\n"
        "def dialect(pipeline):\n"
        "    return getattr(pipeline, 'backend').DIALECT\n"
    )
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "engine.py").write_text("def close(self):\n    self.backend.close()\n")
    (tmp_path / "pipeline.py").write_text("def close(self):\n    self.backend.close()\n")
    assert leaks(tmp_path) == ["cli/tables.py:2", "cli/tables.py:5"]
