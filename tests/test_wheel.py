"""The wheel carries the bundled models, and a runtime-only install (no torch) draws letters and writes MIDI.

The wheel is built from a copy of the source tree, so the test never writes into
the repository. When edgegen/models holds no exported models (a checkout before
`make export`), the tiny test models are bundled instead and the packaging and
the torch-free install are tested all the same.
"""
from __future__ import annotations

import json
import shutil
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import mido
import pytest

from tiny_runs import exported_models

import edgegen
from edgegen.models import MODELS_DIR

REPO = Path(__file__).resolve().parents[1]


def bundled_model_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".onnx", ".onnx.json")))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, list[str]]:
    """(wheel path, model files it must contain)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    shutil.copytree(REPO / "edgegen", source / "edgegen", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    models = source / "edgegen" / "models"
    if not bundled_model_files(models):
        for path in exported_models()[1].iterdir():
            shutil.copy(path, models / path.name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    str(source), "-w", str(root / "dist")], check=True, capture_output=True, timeout=300)
    (built,) = (root / "dist").glob("edgegen-*.whl")
    return built, bundled_model_files(models)


def test_wheel_contains_every_bundled_model_and_sidecar(wheel):
    path, expected = wheel
    assert any(name.endswith(".onnx") for name in expected)
    with zipfile.ZipFile(path) as archive:
        inside = sorted(Path(n).name for n in archive.namelist() if n.startswith("edgegen/models/") and "onnx" in n)
    assert inside == expected


def test_wheel_metadata_has_version_and_license_and_no_test_helpers(wheel):
    """One version (edgegen.__version__), the MIT license file, and nothing from tests/ (e.g. jack_server.py)."""
    with zipfile.ZipFile(wheel[0]) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
        licenses = [n for n in names if "/licenses/" in n]
        license_text = archive.read(licenses[0]).decode() if licenses else ""
    assert f"Version: {edgegen.__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "MIT License" in license_text
    assert not [n for n in names if Path(n).name in ("jack_server.py", "tiny_runs.py", "player_fakes.py")]
    assert all(n.startswith(("edgegen/", "edgegen-")) for n in names), "only the edgegen package belongs in the wheel"


def test_real_models_are_bundled():
    if not any(MODELS_DIR.glob("*.onnx")):
        pytest.skip("edgegen/models has no exported models (run `make export`)")
    names = {p.name[: -len(".onnx")] for p in MODELS_DIR.glob("*.onnx")}
    assert {"letter_classifier", "drum_encoder", "drum_prior_low", "drum_decoder"} <= names
    assert any(name.startswith("letters_") for name in names)
    for name in names:
        sidecar = MODELS_DIR / f"{name}.onnx.json"
        assert sidecar.is_file(), f"{name}.onnx has no sidecar"
        parity = json.loads(sidecar.read_text())["parity"]
        assert parity["passed"] and parity["downstream_equal"], name
        assert parity["max_abs"] <= 1e-5, f"{name} was exported with a relaxed tolerance {parity['tolerance']}"


@pytest.mark.slow
def test_runtime_only_install_draws_all_letters_and_writes_midi(wheel, tmp_path):
    """`pip install edgegen.whl` into a fresh venv (no extras): no torch, yet fontgen and drumgen work."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel[0])],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, timeout=60)
    assert no_torch.returncode != 0, "torch must not be installed by the runtime install"

    work = tmp_path / "work"  # run away from the repository so nothing is imported from it
    work.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for letter in string.ascii_uppercase:
        result = subprocess.run([str(bin_dir / "fontgen"), "render", "--letter", letter, "--out", f"{letter}.png"],
                                cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in work.glob("*.png")) == list(string.ascii_uppercase)
    result = subprocess.run([str(bin_dir / "drumgen"), "sample", "--style", "jazz", "--bars", "2", "--seed", "1",
                             "--out", "groove.mid"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    midi = mido.MidiFile(work / "groove.mid")
    assert midi.length > 0
