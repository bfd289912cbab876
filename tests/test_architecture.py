"""The layout of docs/architecture.md, kept true: imports run down the layers (import-linter's
layers contract in pyproject.toml), no two modules import each other (directly or round a
longer circle) and no module grows past about 500 lines."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

from tests.conftest import REPO_ROOT

# the packages of the layers; web/ (the coming web view) joins them once it exists
PACKAGES = ["config", "storage", "crawler", "daemon", "arsip", "migrations"]
OPTIONAL_PACKAGES = ["web"]
# where the line limit holds (tests, fixtures and migrations are not counted)
SIZED = ["config", "storage", "crawler", "daemon", "arsip", "web", "scheduler.py"]
MAX_LINES = 500
def present(packages: list[str]) -> list[str]:
    return [p for p in packages if (REPO_ROOT / p / "__init__.py").exists()]


def lint_config(tmp_path: Path) -> Path:
    """pyproject.toml's import-linter settings, with the optional packages that exist."""
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    roots = settings["root_packages"] + [p for p in present(OPTIONAL_PACKAGES)
                                         if p not in settings["root_packages"]]
    lines = ["[tool.importlinter]", f"root_packages = {json.dumps(roots)}"]
    for contract in settings["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in contract.items()]
    path = tmp_path / "importlinter.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def lint_imports(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(command), "--config", str(lint_config(tmp_path)), "--no-cache"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )


def test_imports_run_down_the_layers(tmp_path: Path) -> None:
    res = lint_imports(tmp_path)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "KEPT" in res.stdout and "BROKEN" not in res.stdout, res.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The contract does catch a stair the wrong way: a copy of the tree where storage imports
    the crawler fails it."""
    copy = tmp_path / "tree"
    for package in present(PACKAGES + OPTIONAL_PACKAGES):
        for source in (REPO_ROOT / package).rglob("*.py"):
            target = copy / source.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (copy / "storage" / "upward.py").write_text("from crawler.urls import canonicalize\n")
    command = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run(
        [str(command), "--config", str(lint_config(tmp_path)), "--no-cache"],
        cwd=copy, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode != 0, res.stdout[-4000:]
    assert "storage.upward -> crawler.urls" in res.stdout, res.stdout[-4000:]


def test_scheduler_imports_no_higher_layer() -> None:
    """scheduler.py (the daemon's entry point, a top-level module import-linter cannot take
    as a root package) sits on the daemon's layer: it may use the layers below, never the CLI
    or the web view."""
    tree = ast.parse((REPO_ROOT / "scheduler.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert "daemon" in imported  # the walk sees the imports at all
    assert not imported & {"arsip", "web", "migrations"}, sorted(imported)


def test_no_import_circles() -> None:
    """No module imports one that imports it back, directly or round a longer circle (imports
    inside functions count; imports for type checking only do not)."""
    graph = grimp.build_graph(*present(PACKAGES + OPTIONAL_PACKAGES),
                              exclude_type_checking_imports=True, cache_dir=None)
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                chain = graph.find_shortest_chain(importer=imported, imported=module) or ()
                circles.append(" -> ".join([module, *chain]))
    assert not circles, "\n".join(circles)


def module_sizes() -> dict[str, int]:
    sizes = {}
    for name in SIZED:
        path = REPO_ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*.py")) if path.is_dir() else []
        for file in files:
            with open(file, encoding="utf-8") as fh:
                sizes[file.relative_to(REPO_ROOT).as_posix()] = sum(1 for _ in fh)
    return sizes


def test_modules_stay_small() -> None:
    sizes = module_sizes()
    assert "scheduler.py" in sizes and "storage/models.py" in sizes  # the walk finds them
    too_large = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_large, f"modules over {MAX_LINES} lines (split them): {too_large}"
