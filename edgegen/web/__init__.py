"""The web page: the bundled models drawn and played in a browser with onnxruntime-web (WebAssembly).

``static/`` holds the page (HTML and ES modules, no framework) and, after ``make web``,
``static/vendor/`` the few onnxruntime-web files it loads; :mod:`edgegen.web.server`
serves both with the models on 127.0.0.1 (``edgegen web``).
"""
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
"""What `make web` copies from node_modules/onnxruntime-web/dist: the wasm-only ES module bundle, its
loader and the WebAssembly binary (single-threaded use of the SIMD build; no WebGPU/WebGL)."""
