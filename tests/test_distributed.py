"""Training under torchrun: 2 gloo processes train with DDP and leave loadable checkpoints, and 1
process under torchrun gives exactly the numbers of a plain run (same sampler order, DDP averaging over 1).

These run the real entry points (`python -m edgegen.training.{letters,drums}`) through torchrun, as
`make train-ddp` does, on tiny --quick configurations.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgegen.training.checkpoint import load_checkpoint
from edgegen.training.drums.vae import load_vae
from edgegen.training.letters.gan import load_generator

pytestmark = pytest.mark.slow

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _run(args: list[str], tmp_path: Path, timeout: float = 300) -> None:
    env = {**os.environ, "EDGEGEN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _torchrun(processes: int, module: str, *args: str) -> list[str]:
    return [str(TORCHRUN), "--standalone", f"--nproc-per-node={processes}", "-m", module, *args]


def _finite_log(run: Path) -> list[dict]:
    rows = json.loads((run / "log.json").read_text())
    assert rows
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (run, key, value)
    return rows


def test_two_processes_train_the_gans_and_the_vae_with_ddp(tmp_path):
    # the GAN variants that exercise every part DDP must handle: spectral norm and two D calls before
    # one backward (stabilised), the letter head and projection (conditional_stabilised), the InfoGAN
    # code head used outside forward (infogan_balanced), packing (pacgan, inside stabilised)
    variants = "stabilised,conditional_stabilised,infogan_balanced"
    _run(_torchrun(2, "edgegen.training.letters", "all", "--quick", "--data", "data", "--runs", "runs",
                   "--reports", "reports", "--variants", variants), tmp_path)
    for name in variants.split(","):
        rows = _finite_log(tmp_path / "runs" / name)
        assert [r["epoch"] for r in rows] == [1]
        generator, meta = load_generator(tmp_path / "runs" / name / "checkpoint.pt")
        assert meta["variant"] == name and not generator.training
    assert json.loads((tmp_path / "reports" / "results.json").read_text())["processes"] == 2
    _run(_torchrun(2, "edgegen.training.drums", "train", "--variant", "tiny", "--quick", "--runs", "runs"), tmp_path)
    rows = _finite_log(tmp_path / "runs" / "tiny")
    assert [r["epoch"] for r in rows] == [1, 2]
    model, meta = load_vae(tmp_path / "runs" / "tiny" / "checkpoint.pt")
    assert meta["epoch"] == 2
    assert all(torch.isfinite(head).all() for head in model.decoder(torch.zeros(1, 4), torch.zeros(1, 12)))


def test_one_process_under_torchrun_gives_the_numbers_of_a_plain_run(tmp_path):
    _run([sys.executable, "-m", "edgegen.training.drums", "train", "--variant", "tiny", "--quick",
          "--runs", "plain"], tmp_path)
    _run(_torchrun(1, "edgegen.training.drums", "train", "--variant", "tiny", "--quick", "--runs", "torchrun"),
         tmp_path)
    plain = load_checkpoint(tmp_path / "plain" / "tiny" / "checkpoint.pt")
    ddp = load_checkpoint(tmp_path / "torchrun" / "tiny" / "checkpoint.pt")
    weights_a, weights_b = plain["modules"]["model"], ddp["modules"]["model"]
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert plain["history"] == ddp["history"]
