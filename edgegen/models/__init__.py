"""Bundled trained models: each NAME.onnx with its NAME.onnx.json sidecar."""
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
