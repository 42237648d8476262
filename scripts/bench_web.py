"""Time the web page in headless Chromium: navigation to first letter and first groove (cold cache), and later renders.

Usage: python scripts/bench_web.py --out reports/bench.json [--runs 5] [--calls 200]

Each cold run is a fresh Chromium profile (empty HTTP and WebAssembly code caches) loading the page from
`edgegen web` (in this process, on a free port): the times are the page's own performance.now() (ms since
navigation start) when the first letter was drawn and the first groove was ready, onnxruntime-web's 14 MB
wasm fetched and compiled within them. Later renders: window.edgegen.renderLetter / sampleBars called
--calls times each in the page once it is idle (its drum kit built) and after 20 warm-up calls each
(letters, styles and seeds varied; each call includes drawing the result on its canvas).
Merges the "web" section into the bench JSON. Needs `make web`, chromium, chromium-driver and selenium.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_playback import merge_section  # noqa: E402  (scripts/ is not a package)

from edgegen.runtime.onnx_model import models_dir  # noqa: E402
from edgegen.web import STATIC_DIR, VENDOR_FILES  # noqa: E402
from edgegen.web.server import missing_vendor_files, serve_in_thread  # noqa: E402

FIRST_RESULT_MS = 1500.0  # acceptance (issue 15): first letter and first groove within 1.5 s of navigation
LATER_RENDER_MS = 5.0  # acceptance: later renders under 5 ms

LATER = """
const done = arguments[arguments.length - 1];
(async () => {
  const api = window.edgegen, calls = arguments[0], letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", styles = api.styles();
  const time = async (f) => { const t = performance.now(); await f(); return performance.now() - t; };
  await api.kitReady; // the drum kit is built in a worker after start-up: measure the page once it is idle
  for (let i = 0; i < 20; i++) { await api.renderLetter(letters[i], i); await api.sampleBars(styles[i % styles.length], 1, i); }
  const out = { letter: [], groove: [] };
  for (let i = 0; i < calls; i++) out.letter.push(await time(() => api.renderLetter(letters[i % 26], 1000 + i)));
  for (let i = 0; i < calls; i++) out.groove.push(await time(() => api.sampleBars(styles[i % styles.length], 1, 1000 + i)));
  return out;
})().then(done, (e) => done({ error: String(e.message || e) }));
"""


def chromium(profile: str):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-background-networking", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
    driver.set_script_timeout(60)
    return driver


def wait_ready(driver) -> dict:
    timings = driver.execute_async_script(
        "const done = arguments[0]; window.edgegen.ready.then((api) => done(api.timings), (e) => done({error: e.message}))")
    if "error" in timings:
        raise click.ClickException(f"the page failed: {timings['error']}")
    return timings


def summary(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max()), "mean": float(a.mean())}


def page_bytes() -> dict:
    """What the page and its vendor files weigh on disk, and deflated (roughly what they add to a wheel)."""
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in (".html", ".mjs", ".css", ".wasm"))
    raw = sum(p.stat().st_size for p in files)
    deflated = sum(len(zlib.compress(p.read_bytes(), 6)) for p in files)
    wasm = STATIC_DIR / "vendor" / VENDOR_FILES[2]
    return {"files": len(files), "bytes": raw, "deflated_bytes": deflated, "wasm_bytes": wasm.stat().st_size}


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/bench.json"),
              show_default=True, help="Bench JSON to merge the 'web' section into.")
@click.option("--runs", type=click.IntRange(1, 50), default=5, show_default=True, help="Cold page loads.")
@click.option("--calls", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="Later renderLetter and sampleBars calls each.")
def main(out: Path, runs: int, calls: int) -> None:
    """Measure the web page in headless Chromium and merge the results into the bench JSON."""
    if missing_vendor_files():
        raise click.ClickException("run `make web` first: the page's onnxruntime-web files are missing")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise click.ClickException("needs chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    load_before = os.getloadavg()
    server, url = serve_in_thread(0, models_dir())
    cold, warm, later = [], [], None
    try:
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-web-") as profile:
                driver = chromium(profile)
                try:
                    driver.get(url)
                    cold.append(wait_ready(driver))
                    if run == 0:
                        driver.get(url)  # the same profile again: HTTP cache and compiled wasm cached
                        warm.append(wait_ready(driver))
                        later = driver.execute_async_script(LATER, calls)
                        if "error" in later:
                            raise click.ClickException(f"the page failed: {later['error']}")
                finally:
                    driver.quit()
            click.echo(f"cold load {run + 1}/{runs}: first letter {cold[-1]['firstLetterMs']:.0f} ms, "
                       f"first groove {cold[-1]['firstGrooveMs']:.0f} ms")
    finally:
        server.shutdown()
        server.server_close()
    version = subprocess.run([shutil.which("chromium"), "--version"], capture_output=True, text=True).stdout.strip()
    lock = json.loads((Path(__file__).resolve().parent.parent / "package-lock.json").read_text())
    first_letter = summary([t["firstLetterMs"] for t in cold])
    first_groove = summary([t["firstGrooveMs"] for t in cold])
    letter, groove = summary(later["letter"]), summary(later["groove"])
    result = {
        "command": f"python scripts/bench_web.py --out {out} --runs {runs} --calls {calls}",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_at_start": load_before[0],
                    "shared": "other jobs were running on the machine"},
        "browser": version,
        "onnxruntime_web": lock["packages"]["node_modules/onnxruntime-web"]["version"],
        "backend": "wasm, 1 thread",
        "page_bytes": page_bytes(),
        "cold_first_letter_ms": first_letter,
        "cold_first_groove_ms": first_groove,
        "cold_models_loaded_ms": summary([t["modelsMs"] for t in cold]),
        "warm_first_groove_ms": summary([t["firstGrooveMs"] for t in warm]),
        "later_render_letter_ms": letter,
        "later_sample_bar_ms": groove,
        "acceptance": {
            "first_letter_and_groove_within_ms": FIRST_RESULT_MS,
            "later_renders_under_ms": LATER_RENDER_MS,
            "met": bool(first_letter["max"] <= FIRST_RESULT_MS and first_groove["max"] <= FIRST_RESULT_MS
                        and letter["p95"] < LATER_RENDER_MS and groove["p95"] < LATER_RENDER_MS),
            "judged_on": "every cold load's first letter and groove; p95 of later renders",
        },
    }
    merge_section(out, "web", result)
    click.echo(f"first letter p50 {first_letter['p50']:.0f} ms (max {first_letter['max']:.0f}), first groove p50 "
               f"{first_groove['p50']:.0f} ms (max {first_groove['max']:.0f}); later letter p50/p95 "
               f"{letter['p50']:.2f}/{letter['p95']:.2f} ms, bar {groove['p50']:.2f}/{groove['p95']:.2f} ms; "
               f"acceptance {'met' if result['acceptance']['met'] else 'MISSED'} -> {out}")


if __name__ == "__main__":
    main()
