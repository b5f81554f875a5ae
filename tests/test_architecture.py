"""The architecture as a test: import-linter's contracts (pyproject.toml, [tool.importlinter]), and
the house rules no linter checks: no function over 60 lines, no private name (`_x`) imported from
another module, and no import inside a function unless a comment there says what it defers (on the
lower floors only a heavy dependency: a text letter never loads them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "imr_llm"
MAX_LINES = 60
HEAVY = {"numpy", "PIL", "tesserocr", "pypdfium2"}  # imported where used, so a text letter never loads them

# The floors, by file: the lower ones are held to every rule now.
LOWER = ["errors.py", "schema.py", "taxonomy.py", "version.py", "runtime.py", "output.py", "fields.py", "reading.py",
         "ocr.py", "safety.py", "parsing"]
MODEL_SIDE = ["model", "cache.py", "prompts.py", "enrich", "explain"]
FRONT_ENDS = ["__init__.py", "__main__.py", "api.py", "runs", "render.py", "redaction.py", "evaluation", "cli"]


def _files(floor: list[str]) -> list[Path]:
    out: list[Path] = []
    for entry in floor:
        path = PACKAGE / entry
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return out


def _floors() -> list:
    return [pytest.param(floor, id=name)
            for name, floor in (("lower floors", LOWER), ("model side", MODEL_SIDE), ("front ends", FRONT_ENDS))]


def test_every_module_is_on_a_floor():
    on_floor = set(_files(LOWER + MODEL_SIDE + FRONT_ENDS))
    assert sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p not in on_floor) == []


@pytest.mark.parametrize("contract", ["layers", "lower-floors", "parser-without-model"])
def test_import_contract(contract):
    pytest.importorskip("importlinter")
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                          "--no-cache", "--contract", contract], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


@pytest.mark.parametrize("floor", _floors())
def test_no_function_over_60_lines(floor):
    long = [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in _files(floor) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_LINES]
    assert long == []


@pytest.mark.parametrize("floor", _floors())
def test_no_private_name_imported_from_another_module(floor):
    private = [f"{path.relative_to(PACKAGE)}:{node.lineno} {alias.name} from {'.' * node.level}{node.module or ''}"
               for path in _files(floor) for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert private == []


@pytest.mark.parametrize("floor", _floors())
def test_imports_inside_functions_say_what_they_defer(floor):
    """Each import inside a function has a comment saying "deferred" on its line or above it in the same
    function; on the lower floors it may only defer a HEAVY dependency."""
    bad = []
    for path in _files(floor):
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                name = node.names[0].name if isinstance(node, ast.Import) else "." * node.level + (node.module or "")
                said = any("#" in line and "deferred" in line.split("#", 1)[1] for line in lines[fn.lineno - 1:node.lineno])
                if not said or (floor is LOWER and name.split(".")[0] not in HEAVY):
                    bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert bad == []
