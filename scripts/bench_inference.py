"""`make bench` (inference half): torch vs onnxruntime, measured side by side in one run.

Merges a section "inference" into the bench JSON (read-modify-write; the playback
benchmark merges its own section) and prints a table:
- the same letter generator in torch eager and in onnxruntime, batch 1 and 64,
  median of >= 200 calls each, both on 1 thread, calls interleaved so a busy
  neighbour slows both alike;
- a whole `fontgen render` process against an equivalent torch script that loads
  the checkpoint and renders the same letter (same z, same pixels: checked),
  median wall time of several runs each (interleaved) and peak RSS per process
  (GNU time's %M for that child);
- install size: a real runtime-only venv (`pip install` of the package, no extras,
  built in /tmp) against the project venv with torch; plus torch's own folder;
- model file sizes, and the time to generate one drum bar (median).

Usage: python scripts/bench_inference.py --runs runs --out reports/bench.json
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"  # GNU time: per-process peak RSS

TORCH_RENDER_SCRIPT = """
import sys
import numpy as np
import torch
from PIL import Image
from edgegen.training.letters.gan import load_generator

torch.set_num_threads(1)
checkpoint, letter, seed, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
generator, _ = load_generator(checkpoint)
z = torch.from_numpy(np.random.default_rng(seed).standard_normal((1, generator.z_dim)).astype(np.float32))
onehot = torch.zeros(1, 26)
onehot[0, ord(letter) - ord("A")] = 1.0
with torch.no_grad():
    ink = generator(z, onehot)[0, 0].numpy()
Image.fromarray(np.round((1.0 - np.clip(ink, 0, 1)) * 255).astype(np.uint8)).save(out)
"""


def median_ms(fn, calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def interleaved_ms(fns: dict, calls: int) -> dict[str, float]:
    """Median ms of each function, calling them in turn so load changes hit all alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def run_process(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process.

    Peak RSS comes from GNU time's %M, not from our own wait4: Linux carries a
    parent's RSS high-water mark into a forked child across exec, so a child of
    this (torch-loaded) process would report at least our size.
    """
    rss_file = cwd / "rss.txt"
    start = time.perf_counter()
    result = subprocess.run([TIME, "-f", "%M", "-o", str(rss_file), *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {result.stderr[-500:]}")
    return wall, int(rss_file.read_text().split()[-1]) / 1024


def report_path(path: Path) -> str:
    """A path as the committed report names it: relative to the repository, never a machine path."""
    from edgegen.models import MODELS_DIR

    path = path.resolve()
    if path == MODELS_DIR.resolve():
        return "edgegen/models (bundled)"
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return f"{path.name} (outside the repository)"


def folder_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total / 1e6


def generator_speed(models: Path, runs: Path, calls: int) -> dict:
    """Torch eager vs onnxruntime for the default letter generator, batch 1 and 64."""
    import torch

    from edgegen.runtime.font_generator import FontGenerator
    from edgegen.training.letters.gan import load_generator

    torch.set_num_threads(1)
    fonts = FontGenerator(models_dir=models)
    checkpoint = runs / "letters" / fonts.model.spec.variant / "checkpoint.pt"
    if not checkpoint.is_file():
        return {"skipped": f"no checkpoint {checkpoint}"}
    module, _ = load_generator(checkpoint)
    params = sum(p.numel() for p in module.parameters())
    result = {"model": fonts.name, "parameters": params, "calls": calls}
    for batch in (1, 64):
        rng = np.random.default_rng(batch)
        z = rng.standard_normal((batch, fonts.z_dim)).astype(np.float32)
        onehot = np.eye(26, dtype=np.float32)[rng.integers(0, 26, batch)]
        z_t, onehot_t = torch.from_numpy(z), torch.from_numpy(onehot)

        def torch_call():
            with torch.no_grad():
                module(z_t, onehot_t)

        times = interleaved_ms({"torch": torch_call, "ort": lambda: fonts.model.run(z=z, onehot=onehot)}, calls)
        result[f"batch{batch}"] = {"torch_ms": times["torch"], "ort_ms": times["ort"],
                                   "speedup": times["torch"] / times["ort"]}
    return result


def render_processes(models: Path, runs: Path, repeats: int) -> dict:
    """A whole `fontgen render` process vs a torch script rendering the same letter."""
    from edgegen.runtime.font_generator import FontGenerator

    fonts = FontGenerator(models_dir=models)
    checkpoint = runs / "letters" / fonts.model.spec.variant / "checkpoint.pt"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "EDGEGEN_MODELS": str(models), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "torch_render.py"
        script.write_text(TORCH_RENDER_SCRIPT)
        commands = {"fontgen": [str(bin_dir / "fontgen"), "render", "--letter", "Q", "--seed", "0",
                                "--out", str(work / "onnx.png")]}
        if checkpoint.is_file():
            commands["torch_script"] = [sys.executable, str(script), str(checkpoint), "Q", "0", str(work / "torch.png")]
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for name, args in commands.items():  # warm the file cache once
            run_process(args, env, work)
        for _ in range(repeats):
            for name, args in commands.items():
                samples[name].append(run_process(args, env, work))
        result = {"repeats": repeats}
        for name, values in samples.items():
            result[name] = {"median_s": statistics.median(v[0] for v in values),
                            "peak_rss_mb": max(v[1] for v in values)}
        if "torch_script" in result:
            from PIL import Image

            same = np.array_equal(np.asarray(Image.open(work / "onnx.png")), np.asarray(Image.open(work / "torch.png")))
            result["same_pixels"] = bool(same)
            result["speedup"] = result["torch_script"]["median_s"] / result["fontgen"]["median_s"]
            result["memory_ratio"] = result["torch_script"]["peak_rss_mb"] / result["fontgen"]["peak_rss_mb"]
    return result


def install_sizes(skip_venv: bool) -> dict:
    """Runtime-only venv (really built with pip, no extras) vs the project venv with torch."""
    import torch

    full_venv = Path(sys.prefix)
    result = {"full_venv_mb": folder_mb(full_venv),
              "full_venv": f"{report_path(full_venv)} (torch + train + dev extras)",
              "torch_package_mb": folder_mb(Path(torch.__file__).parent)}
    if skip_venv:
        return result
    with tempfile.TemporaryDirectory(prefix="edgegen_runtime_venv_") as tmp:
        source, venv = Path(tmp) / "src", Path(tmp) / "venv"
        source.mkdir()
        shutil.copytree(REPO / "edgegen", source / "edgegen", ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        str(source)], check=True, capture_output=True)
        has_torch = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0
        result.update(runtime_venv_mb=folder_mb(venv), runtime_venv_has_torch=has_torch,
                      runtime_venv="fresh venv, `pip install .` with no extras")
    result["size_ratio"] = result["full_venv_mb"] / result["runtime_venv_mb"]
    return result


def drum_bar_speed(models: Path, calls: int) -> dict:
    """Median time to generate one bar (style prior -> z_low prior -> decoder -> grid)."""
    from edgegen.runtime.drum_generator import DrumGenerator

    drums = DrumGenerator(models)
    seeds = iter(range(10**9))
    return {"sample_one_bar_ms": median_ms(lambda: drums.sample("jazz", bars=1, seed=next(seeds)), calls),
            "calls": calls}


def merge_section(path: Path, section: str, data: dict) -> None:
    from edgegen.runtime.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing[section] = data
    atomic_write_text(path, json.dumps(existing, indent=2) + "\n")


def table(r: dict) -> str:
    """The README table (markdown)."""
    rows = ["| measurement | torch | onnxruntime | ratio |", "|---|---|---|---|"]
    g = r["generator"]
    for batch in ("batch1", "batch64"):
        if batch in g:
            rows.append(f"| generator {batch.replace('batch', 'batch ')} (median of {g['calls']}) | "
                        f"{g[batch]['torch_ms']:.3f} ms | {g[batch]['ort_ms']:.3f} ms | {g[batch]['speedup']:.1f}x |")
    p = r["render_process"]
    if "torch_script" in p:
        rows.append(f"| whole render process (median of {p['repeats']}) | {p['torch_script']['median_s']:.3f} s | "
                    f"{p['fontgen']['median_s']:.3f} s | {p['speedup']:.1f}x |")
        rows.append(f"| peak RSS of that process | {p['torch_script']['peak_rss_mb']:.0f} MB | "
                    f"{p['fontgen']['peak_rss_mb']:.0f} MB | {p['memory_ratio']:.1f}x |")
    else:
        rows.append(f"| whole render process | - | {p['fontgen']['median_s']:.3f} s | - |")
    s = r["install"]
    if "runtime_venv_mb" in s:
        rows.append(f"| install size (venv) | {s['full_venv_mb']:.0f} MB | {s['runtime_venv_mb']:.0f} MB | "
                    f"{s['size_ratio']:.1f}x |")
    models = ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in r["model_bytes"].items())
    rows.append(f"| one drum bar (median) | - | {r['drum']['sample_one_bar_ms']:.3f} ms | - |")
    return "\n".join(rows) + f"\n\nModel files: {models}."


@click.command()
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/bench.json"),
              show_default=True)
@click.option("--models", "models_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Models folder [default: EDGEGEN_MODELS or the bundled models].")
@click.option("--calls", type=click.IntRange(200), default=300, show_default=True, help="Calls per median (>= 200).")
@click.option("--repeats", type=click.IntRange(3), default=9, show_default=True, help="Process runs per median.")
@click.option("--skip-venv", is_flag=True, help="Do not build the runtime-only venv (size then unmeasured).")
def main(runs: Path, out: Path, models_dir: Path | None, calls: int, repeats: int, skip_venv: bool) -> None:
    """Benchmark torch vs onnxruntime inference and merge the numbers into OUT under "inference"."""
    from edgegen.runtime.font_generator import default_letter_model
    from edgegen.runtime.onnx_model import ModelError, models_dir as resolve

    runs = runs.resolve()  # the render processes run in a scratch folder
    models = resolve(models_dir)
    try:
        default_letter_model(models)
        from edgegen.runtime.drum_generator import DrumGenerator

        DrumGenerator(models)
    except ModelError as error:
        raise click.ClickException(f"{error}; run `make export` first")
    started = time.time()
    result = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0], "python": sys.version.split()[0]},
        "models_dir": report_path(models),
        "generator": generator_speed(models, runs, calls),
        "render_process": render_processes(models, runs, repeats),
        "drum": drum_bar_speed(models, calls),
        "model_bytes": {p.name: p.stat().st_size for p in sorted(models.glob("*.onnx"))},
        "install": install_sizes(skip_venv),
    }
    g, p, d = result["generator"], result["render_process"], result["drum"]
    result["acceptance"] = {
        "render_process_at_most_0.3s": p["fontgen"]["median_s"] <= 0.3,
        "render_process_at_least_4x_faster_than_torch": p.get("speedup", 0) >= 4,
        "ort_batch1_at_least_2x_faster": g.get("batch1", {}).get("speedup", 0) >= 2,
        "drum_bar_at_most_1ms": d["sample_one_bar_ms"] <= 1.0,
    }
    result["load_average_at_end"] = os.getloadavg()[0]
    result["seconds"] = round(time.time() - started, 1)
    merge_section(out, "inference", result)
    click.echo(table(result))
    click.echo("\nacceptance: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["acceptance"].items()))
    click.echo(f"merged into {out} (section 'inference')")


if __name__ == "__main__":
    main()
