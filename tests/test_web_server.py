"""`edgegen web`: the page, its onnxruntime-web files and the models over HTTP on 127.0.0.1, and nothing else."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edgegen.runtime.font_generator import default_letter_model
from edgegen.runtime.onnx_model import available_models, models_dir
from edgegen.web import STATIC_DIR, VENDOR_FILES
from edgegen.web.server import HOST, WebError, make_server, missing_vendor_files, serve_in_thread

from test_layout import _edges, import_graph

needs_vendor = pytest.mark.skipif(bool(missing_vendor_files()), reason="run `make web` first (onnxruntime-web files)")


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


@pytest.fixture(scope="module")
def served():
    server, url = serve_in_thread(0, models_dir())
    yield url
    server.shutdown()
    server.server_close()


@needs_vendor
def test_the_page_its_modules_and_the_wasm_come_with_their_mime_types(served):
    status, kind, body = get(served)
    assert (status, kind) == (200, "text/html; charset=utf-8") and b'src="app.mjs"' in body
    for first in ("models/index.json", f"models/{default_letter_model()}.onnx", "models/drum_decoder.onnx"):
        assert f'<link rel="preload" href="{first}" as="fetch" crossorigin>'.encode() in body, first
    for name in sorted(p.name for p in STATIC_DIR.glob("*.mjs")):
        assert get(served + name)[:2] == (200, "text/javascript; charset=utf-8"), name
    assert get(served + "vendor/ort-wasm-simd-threaded.wasm")[:2] == (200, "application/wasm")
    assert get(served + "vendor/ort.wasm.bundle.min.mjs")[:2] == (200, "text/javascript; charset=utf-8")


@needs_vendor
def test_models_are_served_as_they_are_on_disk_with_an_index_the_runtime_agrees_with(served):
    index = json.loads(get(served + "models/index.json")[2])
    assert index["letters"] == default_letter_model()
    assert {m["name"] for m in index["models"]} == set(available_models())
    status, kind, body = get(served + "models/drum_decoder.onnx")
    assert (status, kind) == (200, "application/octet-stream")
    assert body == (models_dir() / "drum_decoder.onnx").read_bytes()
    sidecar = json.loads(get(served + "models/drum_decoder.onnx.json")[2])
    assert sidecar["kind"] == "drum_decoder"


@needs_vendor
@pytest.mark.parametrize("path", [
    "vendor/", "vendor", "models/", "models", "static/index.html", "../pyproject.toml", "%2e%2e/pyproject.toml",
    "models/..%2f__init__.py", "models/__init__.py", "vendor/.copied", "web/server.py", "nothing.mjs",
    "models/drum_decoder.onnx/", "vendor/..%2fapp.mjs",
])
def test_nothing_else_is_served_and_no_folder_is_listed(served, path):
    status, _, body = get(served + path)
    assert status == 404, (path, body[:80])


def test_a_server_without_the_onnxruntime_web_files_says_to_run_make_web(tmp_path):
    with pytest.raises(WebError, match="make web"):
        make_server(0, models_dir(), static_dir=tmp_path)


@needs_vendor
def test_it_listens_on_127_0_0_1_only(served):
    port = int(served.rsplit(":", 1)[1].strip("/"))
    assert served.startswith(f"http://{HOST}:")
    addresses = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {HOST}
    for address in addresses:  # the machine's other addresses do not answer
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, port)) != 0, address


def edgegen(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from edgegen.cli.web import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


@needs_vendor
def test_a_port_in_use_is_one_line_and_a_non_zero_exit():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = edgegen("web", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: port {port} on {HOST} is in use; choose another with --port"]


def test_bad_options_and_a_missing_models_folder_are_one_line(tmp_path):
    result = edgegen("web", "--port", "70000")
    assert result.returncode == 2 and "70000" in result.stderr and "Traceback" not in result.stderr
    if not missing_vendor_files():
        result = edgegen("web", "--port", "0", "--models", str(tmp_path / "none"))
        assert result.returncode == 1 and result.stderr.startswith("Error: models folder") and len(
            result.stderr.strip().splitlines()) == 1


# `edgegen web` in a fresh interpreter that reports, at exit, which forbidden modules it imported.
TORCH_FREE = """
import atexit, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if pytest was started with & or nohup
forbidden = ("torch", "onnx", "matplotlib", "sklearn", "edgegen.training", "edgegen.export")
atexit.register(lambda: print("IMPORTED:" + ",".join(m for m in forbidden if m in sys.modules), flush=True))
from edgegen.cli.web import main
main(sys.argv[1:])
"""


@needs_vendor
def test_edgegen_web_prints_its_url_serves_without_torch_and_ends_quietly_on_ctrl_c():
    process = subprocess.Popen([sys.executable, "-c", TORCH_FREE, "web", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"serving http://{HOST}:") and first.endswith("/ (Ctrl-C to stop)\n"), first
        url = first.split()[1]
        assert get(url + "models/index.json")[0] == 200
        assert get(url)[0] == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in err, err
    assert out.splitlines()[-1] == "IMPORTED:"


def test_help_lists_the_web_command():
    result = edgegen("--help")
    assert result.returncode == 0 and "web" in result.stdout


def test_the_web_package_imports_point_one_way():
    graph = import_graph()
    assert _edges(graph, "edgegen.runtime", "edgegen.web") == []
    assert _edges(graph, "edgegen.web", "edgegen.cli") == []
    for upper in ("edgegen.training", "edgegen.export"):
        assert _edges(graph, "edgegen.web", upper) == []


def test_the_vendor_files_are_the_version_package_lock_pins():
    lock = json.loads((Path(__file__).resolve().parent.parent / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/onnxruntime-web"]["version"]
    package = json.loads((Path(__file__).resolve().parent.parent / "package.json").read_text())
    assert package["dependencies"]["onnxruntime-web"] == pinned, "package.json and package-lock.json disagree"
    if not missing_vendor_files():
        bundle = (STATIC_DIR / "vendor" / VENDOR_FILES[0]).read_text(encoding="utf-8", errors="replace")
        assert f'"{pinned}"' in bundle, f"static/vendor is not onnxruntime-web {pinned}: run `make web`"


def test_every_page_file_is_package_data_so_the_wheel_carries_it():
    import fnmatch
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["edgegen.web"]
    page = [p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.rglob("*")
            if p.is_file() and p.name != ".copied"]
    assert page and all(any(fnmatch.fnmatch(f, pattern) for pattern in patterns) for f in page), (page, patterns)
    assert {f"static/vendor/{name}" for name in VENDOR_FILES} <= set(page) or missing_vendor_files()
    assert pyproject["project"]["scripts"]["edgegen"] == "edgegen.cli.web:main"


@needs_vendor
def test_a_browser_that_leaves_mid_download_prints_no_traceback(capfd):
    """Navigating away while the page loads resets its connections; the terminal stays quiet."""
    import struct
    import time

    server, url = serve_in_thread(0, models_dir())
    port = server.server_address[1]
    try:
        for _ in range(3):
            with socket.create_connection((HOST, port)) as client:
                client.sendall(b"GET /vendor/ort-wasm-simd-threaded.wasm HTTP/1.1\r\nHost: localhost\r\n\r\n")
                client.recv(1024)  # the response has started
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        time.sleep(0.5)
        assert get(url + "models/index.json")[0] == 200  # still serving
    finally:
        server.shutdown()
        server.server_close()
    assert capfd.readouterr().err == ""
