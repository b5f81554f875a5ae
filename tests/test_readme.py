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
    letter = re.search(r"imr-llm extract (\S+)", first).group(1)
    assert (ROOT / letter).is_file()
    proc = subprocess.run([sys.executable, "-m", "imr_llm.cli", "extract", letter], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    assert "Acupuncture 2xwk x 4 wks lumbar spine" in proc.stdout and "upheld" in proc.stdout
