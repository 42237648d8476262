"""One exported model = NAME.onnx + NAME.onnx.json, loaded, checked and run with onnxruntime alone.

The sidecar is written by `python -m edgegen.export` in the same step as the
.onnx, so the two always travel together. The runtime trusts neither blindly:
a missing, corrupt or mismatched pair is refused with a one-line `ModelError`
that names the file, instead of a numpy shape error three calls later.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgegen.runtime.errors import first_line

FORMAT_VERSION = 1
"""Sidecar layout version; bumped whenever a field changes meaning."""

SIDECAR_SUFFIX = ".onnx.json"
MODELS_ENV = "EDGEGEN_MODELS"


class ModelError(Exception):
    """A model or its sidecar is missing, corrupt or does not match; the message names the file."""


@dataclass(frozen=True)
class TensorSpec:
    """One named graph input or output as the sidecar declares it."""

    name: str
    """The tensor name in the ONNX graph (e.g. ``z``, ``onehot``, ``logits``)."""
    shape: list[int | str]
    """Dimensions; the batch axis is the string ``"batch"``, every other one a fixed int."""
    dtype: str
    """numpy dtype name, ``float32`` for every edgegen model."""


@dataclass(frozen=True)
class ModelSpec:
    """The sidecar NAME.onnx.json as a typed record."""

    name: str
    """Model name, the file stem: ``letters_conditional``, ``drum_decoder``, ..."""
    kind: str
    """What the graph does: letter_generator, letter_classifier, drum_encoder, drum_prior_low,
    drum_decoder or drum_style_classifier."""
    format_version: int
    """Sidecar layout version (see FORMAT_VERSION)."""
    edgegen_version: str
    """edgegen version that exported the model."""
    variant: str
    """Training variant name from the checkpoint (e.g. ``conditional``, ``fm_mbd``)."""
    config: dict[str, Any]
    """The full training config recorded in the checkpoint."""
    opset: int
    """ONNX opset the graph was exported with."""
    inputs: list[TensorSpec]
    """Graph inputs in call order."""
    outputs: list[TensorSpec]
    """Graph outputs in order."""
    classes: list[Any]
    """Letters A-Z for letter models; ``{"name", "pitch"}`` per instrument for drum grids;
    style names for the style classifier."""
    latent: dict[str, int]
    """Latent sizes: ``{"z_dim": 100}`` or ``{"z_high": 4, "z_low": 12}``."""
    conditional: bool
    """True when a letter generator takes a one-hot letter besides z."""
    styles: list[str]
    """Drum styles in prior order (empty for letter models)."""
    style_prior_mu: list[list[float]]
    """Per-style mean of p(z_high | style), [len(styles), z_high]."""
    style_prior_logvar: list[list[float]]
    """Per-style log-variance of p(z_high | style), [len(styles), z_high]."""
    metrics: dict[str, Any]
    """Training/validation metrics copied from the checkpoint."""
    onnx_sha256: str
    """sha256 of NAME.onnx; a mismatch means the pair was mixed up or the file changed."""
    parity: dict[str, Any]
    """torch vs onnxruntime agreement measured at export (max abs per batch size, downstream equality)."""
    group: str = ""
    """Models exported together from one checkpoint share it (the sha256 of that checkpoint), so
    the runtime can refuse an encoder and decoder that come from different trainings."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the exporter recorded (source checkpoint, epoch, quantisation notes)."""

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> "ModelSpec":
        """Build from parsed sidecar JSON; a missing or ill-typed field is a ModelError naming ``source``."""
        if not isinstance(data, dict):
            raise ModelError(f"corrupt sidecar {source}: expected a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(f"sidecar {source} has format version {version!r}, this edgegen reads {FORMAT_VERSION}")
        try:
            return cls(
                name=str(data["name"]),
                kind=str(data["kind"]),
                format_version=int(version),
                edgegen_version=str(data["edgegen_version"]),
                variant=str(data["variant"]),
                config=dict(data["config"]),
                opset=int(data["opset"]),
                inputs=[TensorSpec(t["name"], list(t["shape"]), t["dtype"]) for t in data["inputs"]],
                outputs=[TensorSpec(t["name"], list(t["shape"]), t["dtype"]) for t in data["outputs"]],
                classes=list(data.get("classes", [])),
                latent={k: int(v) for k, v in data.get("latent", {}).items()},
                conditional=bool(data.get("conditional", False)),
                styles=list(data.get("styles", [])),
                style_prior_mu=[list(map(float, row)) for row in data.get("style_prior_mu", [])],
                style_prior_logvar=[list(map(float, row)) for row in data.get("style_prior_logvar", [])],
                metrics=dict(data.get("metrics", {})),
                onnx_sha256=str(data["onnx_sha256"]),
                parity=dict(data.get("parity", {})),
                group=str(data.get("group", "")),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"corrupt sidecar {source}: bad or missing field {error}") from None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir(user_dir: str | os.PathLike | None = None) -> Path:
    """The folder to load models from: ``user_dir`` (``--models``), else $EDGEGEN_MODELS, else the bundled models."""
    if user_dir:
        return Path(user_dir)
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    from edgegen.models import MODELS_DIR

    return MODELS_DIR


def available_models(folder: str | os.PathLike | None = None) -> list[str]:
    """Names of every NAME.onnx in the folder (with or without a valid sidecar)."""
    folder = models_dir(folder)
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".onnx")] for p in folder.glob("*.onnx"))


def read_sidecar(onnx_path: str | os.PathLike) -> ModelSpec:
    """Read and type-check the sidecar beside ``onnx_path`` (no hashing, no session)."""
    sidecar = Path(str(onnx_path)[: -len(".onnx")] + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        raise ModelError(f"missing sidecar {sidecar} for model {onnx_path}")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"corrupt sidecar {sidecar}: {first_line(error)}") from None
    return ModelSpec.from_json(data, sidecar)


class OnnxModel:
    """A validated NAME.onnx + NAME.onnx.json pair with an onnxruntime session (1 thread).

    One intra-op thread: the graphs are small, so threading overhead outweighs the gain,
    and the live drum player must not fight the audio/MIDI thread for cores.
    """

    def __init__(self, onnx_path: str | os.PathLike):
        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise ModelError(f"missing model file {self.path}")
        self.spec = read_sidecar(self.path)
        actual = sha256_file(self.path)
        if actual != self.spec.onnx_sha256:
            raise ModelError(
                f"sha256 mismatch for {self.path}: sidecar says {self.spec.onnx_sha256[:12]}..., file is {actual[:12]}..."
            )
        self.session = _open_session(self.path)
        self._check_signature()

    @classmethod
    def by_name(cls, name: str, folder: str | os.PathLike | None = None) -> "OnnxModel":
        """Load model ``name`` from ``folder`` (see :func:`models_dir`); unknown names list what exists."""
        directory = models_dir(folder)
        path = directory / f"{name}.onnx"
        if not path.is_file():
            known = ", ".join(available_models(directory)) or "none"
            raise ModelError(f"model {name!r} not found in {directory} (available: {known})")
        return cls(path)

    @property
    def name(self) -> str:
        return self.spec.name

    def run(self, **inputs: np.ndarray) -> list[np.ndarray]:
        """Run the graph on float32 inputs given by name; returns outputs in sidecar order."""
        feed = {t.name: np.ascontiguousarray(inputs[t.name], dtype=np.float32) for t in self.spec.inputs}
        return self.session.run([t.name for t in self.spec.outputs], feed)

    def _check_signature(self) -> None:
        """The graph's input/output names and fixed dims must be those the sidecar promises."""
        for declared, actual, role in (
            (self.spec.inputs, self.session.get_inputs(), "inputs"),
            (self.spec.outputs, self.session.get_outputs(), "outputs"),
        ):
            if [t.name for t in declared] != [a.name for a in actual]:
                raise ModelError(
                    f"{role} of {self.path} are {[a.name for a in actual]}, sidecar says {[t.name for t in declared]}"
                )
            for tensor, graph_tensor in zip(declared, actual):
                # every fixed dim the graph states must be the sidecar's; symbolic graph dims pass
                clash = len(tensor.shape) != len(graph_tensor.shape) or any(
                    isinstance(g, int) and g != d for d, g in zip(tensor.shape, graph_tensor.shape)
                )
                if clash:
                    raise ModelError(
                        f"shape of {tensor.name} in {self.path} is {graph_tensor.shape}, sidecar says {tensor.shape}"
                    )


def _open_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelError(f"corrupt model file {path}: {first_line(error)[:200]}") from None
