"""`edgegen`: the toolkit's umbrella command; `edgegen web` serves the browser page (no torch).

The page draws letters and plays grooves with the same ONNX models the CLI uses,
run by onnxruntime-web (WebAssembly) in the browser, with nothing sent anywhere:
the server only hands out files, on 127.0.0.1.
"""
from __future__ import annotations

from pathlib import Path

import click

from edgegen.cli.errors import FriendlyGroup
from edgegen.cli.options import MODELS


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """edgegen: small generative models on a laptop CPU.

    \b
    Examples:
      edgegen web                 # http://127.0.0.1:8000/
      edgegen web --port 8080 --open
    """


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@MODELS
def web(port: int, open_browser: bool, models_dir: Path | None) -> None:
    """Serve the page that draws letters and plays grooves in the browser (127.0.0.1 only, offline).

    \b
    Example:
      edgegen web --port 8000 --open
    """
    from edgegen.runtime.onnx_model import models_dir as resolve_models
    from edgegen.web.server import WebError, make_server, url_of

    try:
        server = make_server(port, resolve_models(models_dir))
    except WebError as error:
        raise click.ClickException(str(error)) from None
    url = url_of(server)
    click.echo(f"serving {url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
