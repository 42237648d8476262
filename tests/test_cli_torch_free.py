"""DESIGN section 2: `fontgen render` and `drumgen sample` run without importing torch (or onnx, matplotlib, ...)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tiny_runs import exported_models

FORBIDDEN = ("torch", "onnx", "matplotlib", "sklearn", "edgegen.training", "edgegen.export")

# Runs a command's main() in a fresh interpreter and reports, at exit, which forbidden modules got imported.
WRAPPER = """
import atexit, sys
forbidden = {forbidden!r}
atexit.register(lambda: print("IMPORTED:" + ",".join(m for m in forbidden if m in sys.modules)))
from edgegen.cli.{command} import main
main(sys.argv[1:])
"""


def run_isolated(command: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEGEN_MODELS": str(exported_models()[1])}
    code = WRAPPER.format(forbidden=FORBIDDEN, command=command)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command, args", [
    ("fontgen", ["render", "--letter", "Q", "--out", "{tmp}/q.png"]),
    ("drumgen", ["sample", "--style", "jazz", "--bars", "2", "--out", "{tmp}/g.mid", "--png", "{tmp}/g.png"]),
    ("drumgen", ["show", "--style", "rock", "--seed", "1"]),
])
def test_runtime_commands_never_import_torch(command, args, tmp_path):
    result = run_isolated(command, [a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 0, result.stderr
    imported = [line for line in result.stdout.splitlines() if line.startswith("IMPORTED:")]
    assert imported == ["IMPORTED:"], f"{command} imported {imported}"


def test_the_check_itself_can_fail(tmp_path):
    """The wrapper does see an import: a command that pulls in torch is caught."""
    code = WRAPPER.format(forbidden=FORBIDDEN, command="fontgen").replace("main(sys.argv[1:])", "import torch")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "IMPORTED:torch" in result.stdout
