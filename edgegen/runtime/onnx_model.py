"""One exported model = NAME.onnx + NAME.onnx.json, loaded, checked and run with onnxruntime alone.

The sidecar is written by `python -m edgegen.export` in the same step as the
.onnx, so the two always travel together. The runtime trusts neither blindly
(DESIGN section 6): a missing, corrupt or mismatched pair is refused with a
one-line `ModelError` that names the file, instead of a numpy shape error, a
MemoryError or a random letter three calls later. In order:

1. the sidecar is strict JSON of bounded size and depth (no NaN) and matches the
   schema of :class:`ModelSpec`: every field of the right type and range, and the
   inputs, outputs and latent sizes the runtime will feed are those of its kind
   (:data:`SIGNATURES`; a conditional letter generator takes ``onehot``, an
   unconditional one does not);
2. the .onnx is one regular file whose sha256 is the sidecar's, with no tensor
   in external data (which the sha256 would not cover);
3. the graph onnxruntime loads from those same bytes has exactly the sidecar's
   input and output names, dtypes and fixed dimensions, and a dynamic batch axis.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS
from edgegen.runtime.errors import first_line
from edgegen.runtime.input_files import InputError, MissingInputError, read_bounded, read_json
from edgegen.runtime.letter_spec import IMAGE_SIZE, N_LETTERS

FORMAT_VERSION = 1
"""Sidecar layout version; bumped whenever a field changes meaning."""

SIDECAR_SUFFIX = ".onnx.json"
MODELS_ENV = "EDGEGEN_MODELS"

MAX_SIDECAR_BYTES = 1024 * 1024
"""A sidecar is a few KB (the bundled ones 2-6 KB); a larger file is not one."""
MAX_MODEL_BYTES = 256 * 1024 * 1024
"""An edgegen graph is a few MB (the bundled ones at most 1.7 MB); read whole, to hash and load the same bytes."""
MAX_LATENT_SIZE = 4096
"""Largest latent size a sidecar may state (the bundled ones: 4, 12, 64)."""
MAX_PRIOR_MEAN, MAX_PRIOR_LOGVAR = 100.0, 20.0
"""Bounds on the style priors' means and log-variances (trained ones lie within 2 and 1)."""
MAX_HIT_THRESHOLD, MAX_VELOCITY_GAIN = 100.0, 10.0
"""Bounds on a drum decoder's calibration: hit thresholds (logits, within +-30) and velocity gains (1-4)."""

BATCH = "batch"
# The graph interface the runtime calls, per model kind: (inputs, outputs) as {name: shape}, with BATCH
# for the dynamic axis and a latent name ("z_dim", "z_high", "z_low") or "styles" for sizes the sidecar gives.
_GRID = [BATCH, STEPS, len(INSTRUMENTS)]
_HVO = [BATCH, STEPS, 3 * len(INSTRUMENTS)]  # hits, velocities, offsets
SIGNATURES: dict[str, tuple[dict[str, list], dict[str, list]]] = {
    "letter_generator": ({"z": [BATCH, "z_dim"]}, {"image": [BATCH, 1, IMAGE_SIZE, IMAGE_SIZE]}),
    "letter_classifier": ({"image": [BATCH, 1, IMAGE_SIZE, IMAGE_SIZE]}, {"logits": [BATCH, N_LETTERS]}),
    "drum_encoder": ({"hvo": _HVO}, {"mu_high": [BATCH, "z_high"], "logvar_high": [BATCH, "z_high"],
                                       "mu_low": [BATCH, "z_low"], "logvar_low": [BATCH, "z_low"]}),
    "drum_prior_low": ({"z_high": [BATCH, "z_high"]}, {"mu_low": [BATCH, "z_low"], "logvar_low": [BATCH, "z_low"]}),
    "drum_decoder": ({"z_high": [BATCH, "z_high"], "z_low": [BATCH, "z_low"]},
                     {"logits": _GRID, "velocities": _GRID, "offsets": _GRID}),
    "drum_style_classifier": ({"grid": _GRID}, {"logits": [BATCH, "styles"]}),
    # the letter style model: a generator (letter + style -> glyph) and an encoder (up to "examples" glyphs
    # with their one-hot letters and a mask of the slots in use -> style); sizes from the sidecar's latent
    "letter_style_generator": ({"onehot": [BATCH, N_LETTERS], "style": [BATCH, "style_dim"]},
                               {"image": [BATCH, 1, "image_size", "image_size"]}),
    "letter_style_encoder": ({"glyphs": [BATCH, "examples", "image_size", "image_size"],
                              "letters": [BATCH, "examples", N_LETTERS], "mask": [BATCH, "examples"]},
                             {"style": [BATCH, "style_dim"]}),
}
STYLE_KINDS = ("letter_style_generator", "letter_style_encoder")
"""Kinds that carry the letter style prior (style_prior_mean, style_prior_cholesky)."""
CONDITIONAL_INPUT = ("onehot", [BATCH, N_LETTERS])
"""The extra input of a conditional letter generator: which letter to draw."""


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
    """What the graph does: letter_generator, letter_classifier, letter_style_generator,
    letter_style_encoder, drum_encoder, drum_prior_low, drum_decoder or drum_style_classifier."""
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
    hit_thresholds: list[list[float]]
    """Drum decoder: logit a cell must exceed to be a hit, [len(styles), 9 instruments] (calibrated after training)."""
    velocity_gain: list[float]
    """Drum decoder: per style, the spread of a bar's velocities around its mean, [len(styles)]."""
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
    style_prior_mean: list[float] = field(default_factory=list)
    """Letter style models: mean of the Gaussian prior over styles, [style_dim]."""
    style_prior_cholesky: list[list[float]] = field(default_factory=list)
    """Letter style models: lower-triangular Cholesky factor L of the prior's covariance (L @ L.T),
    [style_dim, style_dim]; a seed's style is mean + L @ z with z ~ N(0, I)."""

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> "ModelSpec":
        """Build from parsed sidecar JSON, checked against the schema and its kind's :data:`SIGNATURES`;
        anything missing, ill-typed, out of range or inconsistent is a ModelError naming ``source``."""
        if not isinstance(data, dict):
            raise ModelError(f"corrupt sidecar {source}: expected a JSON object")
        version = data.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise ModelError(f"sidecar {source} has format version {version!r}, this edgegen reads {FORMAT_VERSION}")
        fields = _Fields(data, source)
        kind = fields.get("kind", str)
        if kind not in SIGNATURES:
            fields.fail(f"unknown kind {_short(kind)} (this edgegen runs {', '.join(SIGNATURES)})")
        styles = fields.get("styles", list, [])
        if not all(isinstance(name, str) and name for name in styles) or len(set(styles)) != len(styles):
            fields.fail(f"field 'styles' must be distinct style names, got {_short(styles)}")
        latent = fields.get("latent", dict, {})
        for key, size in latent.items():
            if type(size) is not int or not 1 <= size <= MAX_LATENT_SIZE:
                fields.fail(f"latent {key!r} must be an integer from 1 to {MAX_LATENT_SIZE}, got {_short(size)}")
        spec = cls(
            name=fields.get("name", str),
            kind=kind,
            format_version=version,
            edgegen_version=fields.get("edgegen_version", str),
            variant=fields.get("variant", str),
            config=fields.get("config", dict),
            opset=fields.get("opset", int),
            inputs=fields.tensors("inputs"),
            outputs=fields.tensors("outputs"),
            classes=fields.get("classes", list, []),
            latent=latent,
            conditional=fields.get("conditional", bool, False),
            styles=styles,
            style_prior_mu=fields.matrix("style_prior_mu", MAX_PRIOR_MEAN),
            style_prior_logvar=fields.matrix("style_prior_logvar", MAX_PRIOR_LOGVAR),
            hit_thresholds=fields.matrix("hit_thresholds", MAX_HIT_THRESHOLD),
            velocity_gain=fields.vector("velocity_gain", MAX_VELOCITY_GAIN),
            metrics=fields.get("metrics", dict, {}),
            onnx_sha256=fields.get("onnx_sha256", str),
            parity=fields.get("parity", dict, {}),
            group=fields.get("group", str, ""),
            extra=fields.get("extra", dict, {}),
            style_prior_mean=fields.vector("style_prior_mean", MAX_PRIOR_MEAN),
            style_prior_cholesky=fields.matrix("style_prior_cholesky", MAX_PRIOR_MEAN),
        )
        if len(spec.onnx_sha256) != 64 or any(c not in "0123456789abcdef" for c in spec.onnx_sha256):
            fields.fail(f"field 'onnx_sha256' must be 64 hex digits, got {_short(spec.onnx_sha256)}")
        spec._check_kind(fields)
        return spec

    def _check_kind(self, fields: "_Fields") -> None:
        """The inputs, outputs, latent sizes and style priors must be those the runtime feeds a model of this kind."""
        inputs, outputs = (dict(side) for side in SIGNATURES[self.kind])
        if self.kind == "letter_generator" and self.conditional:
            inputs[CONDITIONAL_INPUT[0]] = CONDITIONAL_INPUT[1]
        elif self.conditional:
            fields.fail(f"a {self.kind} is never conditional, the sidecar says conditional: true")
        sizes = {**self.latent, "styles": len(self.styles)}
        for role, declared, expected in (("inputs", self.inputs, inputs), ("outputs", self.outputs, outputs)):
            names = [t.name for t in declared]
            if names != list(expected):
                why = ""
                if set(names) ^ set(expected) == {CONDITIONAL_INPUT[0]}:
                    why = f" (the sidecar says conditional: {str(self.conditional).lower()})"
                fields.fail(f"{role} are {names}, a {self.kind} has {list(expected)}{why}")
            for tensor in declared:
                missing = [d for d in expected[tensor.name] if isinstance(d, str) and d != BATCH and d not in sizes]
                if missing:
                    fields.fail(f"a {self.kind} needs latent {missing[0]!r}, the sidecar's latent is {self.latent}")
                shape = [sizes.get(d, d) if d != BATCH else d for d in expected[tensor.name]]
                if tensor.shape != shape:
                    fields.fail(f"shape of {tensor.name} is {tensor.shape}, a {self.kind} with latent {self.latent}"
                                f"{f' and {len(self.styles)} styles' if 'styles' in expected[tensor.name] else ''}"
                                f" has {shape}")
        self._check_style_prior(fields)
        if self.kind == "drum_decoder" or self.style_prior_mu or self.style_prior_logvar:
            z_high = self.latent.get("z_high")
            prior_shape = [len(self.styles), z_high]
            for name, rows in (("style_prior_mu", self.style_prior_mu), ("style_prior_logvar", self.style_prior_logvar)):
                if not self.styles or z_high is None or [len(rows)] + sorted({len(r) for r in rows}) != prior_shape:
                    fields.fail(f"{name} must be [{len(self.styles)} styles, z_high {z_high}], "
                                f"got {len(rows)} rows of {sorted({len(r) for r in rows})}")
        if self.kind == "drum_decoder":
            rows = self.hit_thresholds
            if [len(rows)] + sorted({len(r) for r in rows}) != [len(self.styles), len(INSTRUMENTS)]:
                fields.fail(f"hit_thresholds must be [{len(self.styles)} styles, {len(INSTRUMENTS)} instruments], "
                            f"got {len(rows)} rows of {sorted({len(r) for r in rows})}")
            if len(self.velocity_gain) != len(self.styles) or min(self.velocity_gain, default=0) <= 0:
                fields.fail(f"velocity_gain must be {len(self.styles)} positive numbers, got {self.velocity_gain}")


    def _check_style_prior(self, fields: "_Fields") -> None:
        """A letter style model's prior is [style_dim] and a [style_dim, style_dim] lower-triangular factor with a
        positive diagonal; other kinds have none."""
        if self.kind not in STYLE_KINDS:
            if self.style_prior_mean or self.style_prior_cholesky:
                fields.fail(f"a {self.kind} has no letter style prior")
            return
        d = self.latent.get("style_dim", 0)
        chol = self.style_prior_cholesky
        if len(self.style_prior_mean) != d:
            fields.fail(f"style_prior_mean must have style_dim {d} numbers, got {len(self.style_prior_mean)}")
        if len(chol) != d or any(len(row) != d for row in chol):
            fields.fail(f"style_prior_cholesky must be {d} x {d}, got {len(chol)} rows")
        if any(chol[i][j] != 0.0 for i in range(d) for j in range(i + 1, d)) or any(chol[i][i] <= 0 for i in range(d)):
            fields.fail("style_prior_cholesky must be lower-triangular with a positive diagonal")


class _Fields:
    """Typed reading of a sidecar's fields; every failure is a ModelError naming the sidecar."""

    _TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}
    _MISSING = object()

    def __init__(self, data: dict[str, Any], source: Path):
        self.data, self.source = data, source

    def fail(self, problem: str) -> NoReturn:
        raise ModelError(f"corrupt sidecar {self.source}: {problem}")

    def get(self, key: str, kind: type, default: Any = _MISSING) -> Any:
        """``data[key]`` if it is of type ``kind`` (bool is not an int here), else ``default`` when absent."""
        if key not in self.data:
            if default is self._MISSING:
                self.fail(f"missing field {key!r}")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"field {key!r} must be {self._TYPE_NAMES[kind]}, got {_short(value)}")
        return value

    def tensors(self, key: str) -> list[TensorSpec]:
        """``inputs``/``outputs``: [{"name": str, "shape": ["batch", int, ...], "dtype": "float32"}, ...]."""
        tensors = []
        for entry in self.get(key, list):
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(entry.get("name") if isinstance(entry, dict) else None, str) \
                    or not isinstance(shape, list) or entry.get("dtype") != "float32" \
                    or not all(d == BATCH or type(d) is int for d in shape):
                self.fail(f"each of {key!r} must be {{name, shape: [\"batch\", ints], dtype: float32}}, "
                          f"got {_short(entry)}")
            tensors.append(TensorSpec(entry["name"], list(entry["shape"]), entry["dtype"]))
        return tensors

    def vector(self, key: str, bound: float) -> list[float]:
        """A list of finite numbers within +-``bound`` (empty when absent)."""
        values = self.get(key, list, [])
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= bound
                   for x in values):
            self.fail(f"{key} must be finite numbers within +-{bound:g}, got {_short(values)}")
        return [float(x) for x in values]

    def matrix(self, key: str, bound: float) -> list[list[float]]:
        """A list of rows of finite numbers within +-``bound`` (empty when absent)."""
        rows = self.get(key, list, [])
        for row in rows:
            if not isinstance(row, list) or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= bound
                    for x in row):
                self.fail(f"{key} must be rows of finite numbers within +-{bound:g}, got {_short(row)}")
        return [[float(x) for x in row] for row in rows]


def _short(value: Any, limit: int = 60) -> str:
    """repr of a sidecar value for a message: one line, at most ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    """Read and check the sidecar beside ``onnx_path`` against the schema (no hashing, no session)."""
    sidecar = Path(str(onnx_path)[: -len(".onnx")] + SIDECAR_SUFFIX)
    try:
        data = read_json(sidecar, MAX_SIDECAR_BYTES)
    except MissingInputError:
        raise ModelError(f"missing sidecar {sidecar} for model {onnx_path}") from None
    except InputError as error:
        raise ModelError(f"corrupt sidecar {sidecar}: {error}") from None
    return ModelSpec.from_json(data, sidecar)


class OnnxModel:
    """A validated NAME.onnx + NAME.onnx.json pair with an onnxruntime session (1 thread).

    One intra-op thread: the graphs are small, so threading overhead outweighs the gain,
    and the live drum player must not fight the audio/MIDI thread for cores.
    """

    def __init__(self, onnx_path: str | os.PathLike):
        self.path = Path(onnx_path)
        if not self.path.exists():
            raise ModelError(f"missing model file {self.path}")
        self.spec = read_sidecar(self.path)
        try:
            data = read_bounded(self.path, MAX_MODEL_BYTES)
        except InputError as error:
            raise ModelError(f"model file {self.path}: {error}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != self.spec.onnx_sha256:
            raise ModelError(
                f"sha256 mismatch for {self.path}: sidecar says {self.spec.onnx_sha256[:12]}..., file is {actual[:12]}..."
            )
        try:
            external = external_data(data)
        except ValueError as error:
            raise ModelError(f"corrupt model file {self.path}: not an ONNX model ({error})") from None
        if external:
            raise ModelError(f"{self.path} keeps weights in external data ({', '.join(external[:3])}); "
                             f"an edgegen model is one .onnx file, all of it covered by its sha256")
        self.session = _open_session(data, self.path)  # the very bytes hashed and checked
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
        """The graph's input/output names, dtypes and fixed dims must be those the sidecar promises,
        with a dynamic batch axis first."""
        for declared, actual, role in (
            (self.spec.inputs, self.session.get_inputs(), "inputs"),
            (self.spec.outputs, self.session.get_outputs(), "outputs"),
        ):
            if [t.name for t in declared] != [a.name for a in actual]:
                raise ModelError(
                    f"{role} of {self.path} are {[a.name for a in actual]}, sidecar says {[t.name for t in declared]}"
                )
            for tensor, graph_tensor in zip(declared, actual):
                graph_shape = list(graph_tensor.shape)
                # the sidecar's fixed dims must be the graph's; only the batch axis may be symbolic in the graph
                clash = len(tensor.shape) != len(graph_shape) or any(
                    (g != d) if d != BATCH else isinstance(g, int) for d, g in zip(tensor.shape, graph_shape)
                )
                if clash:
                    raise ModelError(
                        f"shape of {tensor.name} in {self.path} is {graph_shape}, sidecar says {tensor.shape}"
                    )
                if graph_tensor.type != "tensor(float)":
                    raise ModelError(f"{tensor.name} in {self.path} is a {graph_tensor.type}, sidecar says float32")


def inspect_models(folder: str | os.PathLike | None = None) -> list[tuple[str, ModelSpec | ModelError]]:
    """Every model in ``folder`` (see :func:`models_dir`) with its spec if it loads, else the ModelError saying why.

    Loads each one fully, as a command would (sidecar schema, sha256, external data, graph), and
    marks drum graphs whose sidecar group differs from drum_decoder's, which DrumGenerator refuses.
    """
    directory = models_dir(folder)
    found: dict[str, ModelSpec | ModelError] = {}
    for name in available_models(directory):
        try:
            found[name] = OnnxModel(directory / f"{name}.onnx").spec
        except ModelError as error:
            found[name] = error
    decoder = found.get("drum_decoder")
    for name, spec in found.items():
        if isinstance(decoder, ModelSpec) and isinstance(spec, ModelSpec) and \
                spec.kind in ("drum_encoder", "drum_prior_low") and spec.group != decoder.group:
            found[name] = ModelError(f"{directory / name}.onnx comes from a different training than drum_decoder "
                                     f"(sidecar group {spec.group[:12]}... vs {decoder.group[:12]}...)")
    return list(found.items())


def _open_session(data: bytes, path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelError(f"corrupt model file {path}: {first_line(error)[:200]}") from None


# ----------------------------------------------------------------------------- external data

# The protobuf fields of onnx.proto that can lead to a TensorProto: message -> {field number: message}.
_TENSOR_PATHS: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},  # ModelProto: graph, training_info, functions
    "training": {1: "graph", 2: "graph"},  # TrainingInfoProto: initialization, algorithm
    "function": {7: "node", 11: "attribute"},  # FunctionProto: node, attribute_proto
    "graph": {1: "node", 5: "tensor", 15: "sparse"},  # GraphProto: node, initializer, sparse_initializer
    "node": {5: "attribute"},  # NodeProto: attribute
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},  # t g tensors ...
    "sparse": {1: "tensor", 2: "tensor"},  # SparseTensorProto: values, indices
}
_TENSOR_NAME, _EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1  # TensorProto fields; DataLocation.EXTERNAL
_MAX_NESTING = 64  # graphs inside attributes inside graphs ...: far deeper than any real model


def external_data(data: bytes) -> list[str]:
    """Tensors of a serialized ONNX ModelProto whose data lives outside it, as "name -> location".

    Reads only the protobuf wire format along the paths in _TENSOR_PATHS (no `onnx` package, which
    the runtime does not need): initializers, constants in node attributes, sparse tensors,
    subgraphs and functions. ValueError when the bytes are not a well-formed protobuf message.
    """
    found = []
    stack = [("model", 0, len(data), 0)]
    while stack:
        message, start, end, depth = stack.pop()
        if depth > _MAX_NESTING:
            raise ValueError("graphs nested too deeply")
        if message == "tensor":
            name, location, external = "", "", False
            for number, wire, value, value_end in _protobuf_fields(data, start, end):
                if number == _TENSOR_NAME and wire == 2:
                    name = data[value:value_end].decode("utf-8", "replace")
                elif number == _DATA_LOCATION and wire == 0:
                    external = external or value == _EXTERNAL
                elif number == _EXTERNAL_DATA and wire == 2:
                    external = True
                    entry = {k: data[v:e] for k, w, v, e in _protobuf_fields(data, value, value_end) if w == 2}
                    if entry.get(1) == b"location":
                        location = entry.get(2, b"").decode("utf-8", "replace")
            if external:
                found.append(f"{name or '?'} -> {location or '?'}")
            continue
        for number, wire, value, value_end in _protobuf_fields(data, start, end):
            child = _TENSOR_PATHS[message].get(number)
            if child is not None and wire == 2:
                stack.append((child, value, value_end, depth + 1))
    return found


def _protobuf_fields(data: bytes, start: int, end: int):
    """(field number, wire type, value or start, end or None) of each field of one message in data[start:end]."""
    pos = start
    while pos < end:
        key, pos = _protobuf_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _protobuf_varint(data, pos, end)
            yield number, wire, value, None
            continue
        if wire == 2:
            length, pos = _protobuf_varint(data, pos, end)
            if pos + length > end:
                raise ValueError("a field runs past the end of its message")
            yield number, wire, pos, pos + length
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire} at byte {pos}")
    if pos != end:
        raise ValueError("truncated protobuf message")


def _protobuf_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos
