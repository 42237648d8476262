"""`edgegen web`: the page, its onnxruntime-web files and the models, served on 127.0.0.1 only.

Standard library only (http.server), so serving needs nothing a runtime install lacks. Every URL
maps to a file by an explicit rule: ``/`` and ``/NAME`` to the page's own files, ``/vendor/NAME``
to the onnxruntime-web files, ``/models/NAME.onnx[.json]`` to a model of the models folder, and
``/models/index.json`` to the list of models the page may load. Anything else is a 404: no
directory listing, no path outside those folders.
"""
from __future__ import annotations

import errno
import json
import re
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgegen.runtime.errors import first_line
from edgegen.web import STATIC_DIR, VENDOR_FILES

HOST = "127.0.0.1"
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",  # required for WebAssembly.instantiateStreaming
    ".onnx": "application/octet-stream",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class WebError(Exception):
    """Serving cannot start (port in use, page files missing); the message is one line for the user."""


def missing_vendor_files(static_dir: Path = STATIC_DIR) -> list[str]:
    """The onnxruntime-web files the page needs that are not in ``static_dir/vendor``."""
    return [name for name in VENDOR_FILES if not (static_dir / "vendor" / name).is_file()]


def models_index(models_dir: Path) -> dict:
    """What /models/index.json says: each model with a readable sidecar (name, kind, conditional), the
    default letter model, chosen by the Python runtime's own rule (font_generator.default_letter_model),
    and the drum kit table."""
    from edgegen.runtime.font_generator import default_letter_model
    from edgegen.runtime.onnx_model import ModelError, available_models, read_sidecar

    models = []
    for name in available_models(models_dir):
        try:
            spec = read_sidecar(models_dir / f"{name}.onnx")
        except ModelError:
            continue
        models.append({"name": name, "kind": spec.kind, "conditional": spec.conditional})
    try:
        letters = default_letter_model(models_dir)
    except ModelError:
        letters = None
    return {"models": models, "letters": letters, "kit": drum_kit()}


def drum_kit() -> dict:
    """The kit `drumgen --wav` plays (drum_synth.kit_dict) with the rate it renders at, which the page
    builds again in JavaScript."""
    from edgegen.runtime.drum_synth import SAMPLE_RATE, kit_dict

    return {**kit_dict(), "sample_rate": SAMPLE_RATE}


PRELOAD_MARK = "<!-- preload models: edgegen web puts the models the page loads first here -->"
FIRST_MODELS = ("drum_prior_low", "drum_decoder")  # what the page loads at start besides the letter model


def page_html(static_dir: Path, index: dict) -> bytes:
    """index.html with preload links for models/index.json and the models the page loads first, so their
    fetches start with the page's own files instead of after the scripts have run."""
    names = [n for n in (index["letters"], *FIRST_MODELS) if n and n in {m["name"] for m in index["models"]}]
    files = ["models/index.json"] + [f"models/{n}{suffix}" for n in names for suffix in (".onnx.json", ".onnx")]
    links = "\n".join(f'<link rel="preload" href="{f}" as="fetch" crossorigin>' for f in files)
    return (static_dir / "index.html").read_text(encoding="utf-8").replace(PRELOAD_MARK, links).encode()


class PageHandler(BaseHTTPRequestHandler):
    """GET/HEAD for the page, vendor files and models; nothing else."""

    server_version = "edgegen"
    protocol_version = "HTTP/1.1"

    def __init__(self, *args, static_dir: Path, models_dir: Path, index: bytes, page: bytes, **kwargs):
        self.static_dir, self.models_dir, self.index, self.page = static_dir, models_dir, index, page
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass  # a page load is ~10 requests; the terminal shows only the URL

    def do_HEAD(self):
        self._respond(head=True)

    def do_GET(self):
        self._respond(head=False)

    def _resolve(self, path: str) -> tuple[Path | bytes | None, str]:
        """The file (or bytes) a URL path names, and its suffix for the MIME type; None when it names nothing."""
        if path in ("/", "/index.html"):
            return self.page, ".html"
        parts = [unquote(p) for p in path.split("/")[1:]]  # "/a/b/" -> ["a", "b", ""]: names no file
        if parts == ["models", "index.json"]:
            return self.index, ".json"
        if not all(_NAME.match(p) for p in parts):
            return None, ""
        if len(parts) == 1:
            folder, name = self.static_dir, parts[0]
        elif len(parts) == 2 and parts[0] == "vendor":
            folder, name = self.static_dir / "vendor", parts[1]
        elif len(parts) == 2 and parts[0] == "models" and (parts[1].endswith(".onnx") or parts[1].endswith(".onnx.json")):
            folder, name = self.models_dir, parts[1]
        else:
            return None, ""
        file = folder / name
        suffix = ".json" if name.endswith(".json") else file.suffix
        return (file if file.is_file() and suffix in MIME_TYPES else None), suffix

    def _respond(self, head: bool) -> None:
        target, suffix = self._resolve(urlsplit(self.path).path)
        if target is None:
            body = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        else:
            body = target if isinstance(target, bytes) else target.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", MIME_TYPES[suffix])
            self.send_header("Cache-Control", "no-cache")  # revalidate, so a re-exported model is seen
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)


class PageServer(ThreadingHTTPServer):
    """One thread per connection; a backlog for a page's burst of ~20 parallel requests on a busy machine."""

    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        """A browser that navigates away mid-download resets its connections: nothing to report. Anything
        else is one line on stderr, not socketserver's traceback per request."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        print(f"edgegen web: request from {client_address[0]} failed: {first_line(error)}", file=sys.stderr)


def make_server(port: int, models_dir: Path, static_dir: Path = STATIC_DIR) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:``port`` (0 = any free port); WebError when it cannot start."""
    missing = missing_vendor_files(static_dir)
    if missing:
        raise WebError(f"the page's onnxruntime-web files are missing from {static_dir / 'vendor'} "
                       f"({', '.join(missing)}); in a source checkout run `make web`")
    if not models_dir.is_dir():
        raise WebError(f"models folder {models_dir} does not exist")
    index = models_index(models_dir)
    handler = partial(PageHandler, static_dir=static_dir, models_dir=models_dir, index=json.dumps(index).encode(),
                      page=page_html(static_dir, index))
    try:
        server = PageServer((HOST, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise WebError(f"port {port} on {HOST} is in use; choose another with --port") from None
        raise WebError(f"cannot serve on {HOST}:{port}: {error.strerror or error}") from None
    return server


def serve_in_thread(port: int, models_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    """Start serving in a daemon thread (tests, benchmarks); returns the server and its URL. Stop with shutdown()."""
    server = make_server(port, models_dir)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server)


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"
