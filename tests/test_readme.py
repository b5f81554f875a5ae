"""The README's examples run and print what it says they print."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys

from conftest import ROOT


def test_python_api_example_is_a_passing_doctest(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


def test_the_first_command_runs_the_main_job_offline():
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.+?)\n", readme).group(1)
    letter = re.search(r"imr-llm explain (\S+)", first).group(1)
    assert (ROOT / letter).is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMR_LLM_")}  # offline: no model configured
    proc = subprocess.run([sys.executable, "-m", "imr_llm.cli", "explain", letter], cwd=ROOT, capture_output=True,
                          text=True, env={**env, "COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Acupuncture 2xwk x 4 wks lumbar spine" in out and "Not approved" in out
    assert "30 days" in out and "new request" in out  # the appeal window and the new-request route


def test_the_layout_section_names_every_module_and_nothing_else():
    """The README's Layout block: each package folder and module of imr_llm/ named once under its floor, no stale name."""
    block = re.search(r"## Layout\n\n```\n(.+?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    package = ROOT / "imr_llm"
    modules = {p.relative_to(package) for p in package.rglob("*.py") if p.stem not in ("__init__", "__main__")}
    top = {m.name for m in modules if len(m.parts) == 1} | {m.parts[0] + "/" for m in modules if len(m.parts) > 1}
    named_top = set(re.findall(r"^  (\S+)", block, re.M))
    assert named_top == top
    for m in modules:
        if len(m.parts) > 1:  # a subpackage's modules are named in its entry, with or without ".py"
            floor = re.search(rf"^  {m.parts[0]}/(.+?)(?=^  \S|\Z)", block, re.M | re.S).group(1)
            assert re.search(rf"\b{m.stem}\b", floor), f"README Layout does not name {m}"
