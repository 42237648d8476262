"""Export one torch module to NAME.onnx + NAME.onnx.json, with checks that fail loudly.

Order of work, so a user never ships something unproven:
1. trace with the legacy exporter (dynamo=False: one self-contained file, a dynamic
   batch axis from `dynamic_axes`, no onnxscript needed) at a fixed opset;
2. `onnx.checker.check_model(full_check=True)` (also runs shape inference);
3. parity against torch at batch sizes 1, 7 and 64 on fixed seeds: max abs difference
   <= 1e-5 for every output, and the downstream result (thresholded glyph pixels,
   drum grid, predicted class) identical;
4. only then write the .onnx, and after it the sidecar carrying its sha256.
"""
from __future__ import annotations

import datetime
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import edgegen
from edgegen.runtime.files import atomic_write_bytes
from edgegen.runtime.onnx_model import FORMAT_VERSION, SIDECAR_SUFFIX, ModelSpec, OnnxModel, sha256_file
from edgegen.training.common import write_json

OPSET = 17
PARITY_BATCHES = (1, 7, 64)
PARITY_TOLERANCE = 1e-5
PARITY_SEED = 1234

InputMaker = Callable[[int, np.random.Generator], dict[str, np.ndarray]]
Downstream = Callable[[dict[str, np.ndarray], list[np.ndarray]], np.ndarray]  # (feed, outputs) -> result


class ParityError(RuntimeError):
    """The exported graph disagrees with torch; nothing was written."""


@dataclass
class GraphSpec:
    """Everything needed to export one graph and describe it in its sidecar."""

    name: str  # file stem and model name, e.g. "letters_conditional"
    kind: str  # letter_generator, letter_style_generator, letter_style_encoder, letter_classifier, drum_encoder, drum_prior_low, drum_decoder, drum_style_classifier
    module: torch.nn.Module  # forward(*inputs in input order) -> tensor or tuple of tensors
    inputs: dict[str, list[int | str]]  # input name -> shape with "batch" first
    outputs: dict[str, list[int | str]]  # output name -> shape with "batch" first
    make_inputs: InputMaker  # fixed-seed parity inputs for a batch size
    downstream: Downstream  # (inputs, outputs) -> the user-visible result that must match exactly
    sidecar: dict[str, Any] = field(default_factory=dict)  # variant, config, classes, latent, styles, metrics, ...


def torch_outputs(module: torch.nn.Module, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the torch module in eval mode on numpy inputs; always returns a list of arrays."""
    with torch.no_grad():
        result = module(*[torch.from_numpy(v) for v in feed.values()])
    if isinstance(result, torch.Tensor):
        result = (result,)
    return [r.detach().cpu().numpy() for r in result]


def onnx_bytes(spec: GraphSpec) -> bytes:
    """Trace ``spec.module`` to ONNX bytes (single file, named tensors, dynamic batch)."""
    spec.module.eval()
    example = spec.make_inputs(2, np.random.default_rng(0))
    args = tuple(torch.from_numpy(v) for v in example.values())
    dynamic = {name: {0: "batch"} for name in [*spec.inputs, *spec.outputs]}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            spec.module, args, buffer, dynamo=False, opset_version=OPSET,
            input_names=list(spec.inputs), output_names=list(spec.outputs),
            dynamic_axes=dynamic, do_constant_folding=True,
        )
    return declare_shapes(buffer.getvalue(), {**spec.inputs, **spec.outputs})


def declare_shapes(data: bytes, shapes: dict[str, list[int | str]]) -> bytes:
    """Write the declared shapes into the graph's inputs and outputs.

    The tracer leaves some output dims symbolic (e.g. a Slice result becomes
    ``Slicemu_high_dim_1``); stating them makes the file self-describing, and the
    full checker then proves they are consistent with shape inference.
    """
    import onnx

    model = onnx.load_from_string(data)
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        for dim, declared in zip(dims, shapes[value.name]):
            if isinstance(declared, str):
                dim.dim_param = declared
            else:
                dim.dim_value = declared
    return model.SerializeToString()


def check_graph(data: bytes) -> None:
    """onnx.checker with full_check (type and shape inference included)."""
    import onnx

    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)


def measure_parity(spec: GraphSpec, run_onnx: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
                   tolerance: float = PARITY_TOLERANCE) -> dict[str, Any]:
    """Compare torch and ``run_onnx`` at PARITY_BATCHES; returns per-batch numbers (does not raise).

    Besides the max abs difference it records the largest |output|: float32 rounding
    is relative (~1e-7), so an absolute bound gets tight for large logits, and the
    reader of a failure should see which of the two it was.
    """
    report: dict[str, Any] = {"seed": PARITY_SEED, "tolerance": tolerance, "batches": {}}
    for batch in PARITY_BATCHES:
        feed = spec.make_inputs(batch, np.random.default_rng(PARITY_SEED + batch))
        expected = torch_outputs(spec.module, feed)
        actual = run_onnx(feed)
        max_abs = {
            name: float(np.max(np.abs(e.astype(np.float64) - a.astype(np.float64))))
            for name, e, a in zip(spec.outputs, expected, actual)
        }
        same = np.array_equal(spec.downstream(feed, expected), spec.downstream(feed, actual))
        report["batches"][str(batch)] = {"max_abs": max_abs, "downstream_equal": bool(same),
                                         "max_output": max(float(np.max(np.abs(e))) for e in expected)}
    report["max_abs"] = max(max(b["max_abs"].values()) for b in report["batches"].values())
    report["max_output"] = max(b["max_output"] for b in report["batches"].values())
    report["downstream_equal"] = all(b["downstream_equal"] for b in report["batches"].values())
    report["passed"] = report["max_abs"] <= tolerance and report["downstream_equal"]
    return report


def session_runner(data_or_path: bytes | str | Path) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """An onnxruntime runner (1 thread) for graph bytes or a file path."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    source = data_or_path if isinstance(data_or_path, bytes) else str(data_or_path)
    session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    return lambda feed: session.run(None, feed)


def jsonable(obj: Any) -> Any:
    """Configs may hold tuples, Paths or numpy scalars; the sidecar needs plain JSON."""
    def convert(value: Any) -> Any:
        if isinstance(value, (np.generic,)):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().tolist()
        return str(value)

    return json.loads(json.dumps(obj, default=convert))


def export_graph(spec: GraphSpec, out_dir: str | Path, group: str = "",
                 tolerance: float = PARITY_TOLERANCE) -> dict[str, Any]:
    """Export, check and prove ``spec``; write NAME.onnx then NAME.onnx.json. Returns the sidecar.

    Raises ParityError (and writes nothing) when torch and onnxruntime disagree.
    """
    out_dir = Path(out_dir)
    data = onnx_bytes(spec)
    check_graph(data)
    parity = measure_parity(spec, session_runner(data), tolerance)
    if not parity["passed"]:
        raise ParityError(
            f"{spec.name}: onnxruntime disagrees with torch (max abs {parity['max_abs']:.3g}, "
            f"tolerance {tolerance:g}, downstream equal: {parity['downstream_equal']}, "
            f"largest |output| {parity['max_output']:.3g})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{spec.name}.onnx"
    atomic_write_bytes(onnx_path, data)
    sidecar = {
        "format_version": FORMAT_VERSION,
        "edgegen_version": edgegen.__version__,
        "name": spec.name,
        "kind": spec.kind,
        "opset": OPSET,
        "inputs": [{"name": n, "shape": s, "dtype": "float32"} for n, s in spec.inputs.items()],
        "outputs": [{"name": n, "shape": s, "dtype": "float32"} for n, s in spec.outputs.items()],
        **jsonable(spec.sidecar),
        "group": group,
        "onnx_sha256": sha256_file(onnx_path),
        "onnx_bytes": onnx_path.stat().st_size,
        "parity": parity,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    sidecar_path = out_dir / f"{spec.name}{SIDECAR_SUFFIX}"
    write_json(sidecar_path, sidecar)
    for path in (onnx_path, sidecar_path):
        path.chmod(0o644)  # package data: readable by everyone (the atomic temp file starts as 0600)
    ModelSpec.from_json(sidecar, sidecar_path)  # the runtime must be able to read what we wrote
    OnnxModel(onnx_path)  # and load it: sha256, names and shapes
    return sidecar
