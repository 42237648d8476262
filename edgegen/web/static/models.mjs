// One exported model = NAME.onnx + NAME.onnx.json, loaded, checked and run with onnxruntime-web.
// Mirrors edgegen/runtime/onnx_model.py (OnnxModel): the page trusts the sidecar for names, shapes and
// sizes, and refuses a pair whose sha256 or graph signature disagrees, with a one-line message.

export class ModelError extends Error {}

// A source of model files: the page fetches them from the server, Node reads them from disk.
export function fetchSource(base) {
  const get = async (file) => {
    const response = await fetch(`${base}/${file}`);
    if (!response.ok) throw new ModelError(`cannot load ${file}: HTTP ${response.status}`);
    return response;
  };
  return {
    index: async () => (await get("index.json")).json(),
    sidecar: async (name) => (await get(`${name}.onnx.json`)).json(),
    bytes: async (name) => new Uint8Array(await (await get(`${name}.onnx`)).arrayBuffer()),
  };
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameNames(declared, actual) {
  return declared.length === actual.length && declared.every((t, i) => t.name === actual[i]);
}

// onnx_model.OnnxModel: a validated pair with a single-threaded wasm session.
export class OnnxModel {
  constructor(ort, spec, session) {
    this.ort = ort;
    this.spec = spec;
    this.session = session;
  }

  get name() {
    return this.spec.name;
  }

  // onnx_model.OnnxModel.__init__ / by_name: sidecar, sha256, session, signature.
  static async load(ort, source, name) {
    const [spec, bytes] = await Promise.all([source.sidecar(name), source.bytes(name)]);
    if (!spec || !Array.isArray(spec.inputs) || !Array.isArray(spec.outputs)) {
      throw new ModelError(`corrupt sidecar ${name}.onnx.json: no inputs/outputs`);
    }
    const creating = ort.InferenceSession.create(bytes.slice(), { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    creating.catch(() => {}); // awaited below, once the bytes are known to be the sidecar's
    const actual = await sha256Hex(bytes);
    if (actual !== spec.onnx_sha256) {
      creating.then((unused) => unused.release(), () => {});
      throw new ModelError(`sha256 mismatch for ${name}.onnx: sidecar says ${String(spec.onnx_sha256).slice(0, 12)}..., ` +
                           `file is ${actual.slice(0, 12)}...`);
    }
    let session;
    try {
      session = await creating; // started with the hash, so the wasm start-up overlaps it
    } catch (error) {
      throw new ModelError(`corrupt model file ${name}.onnx: ${String(error.message || error).split("\n")[0]}`);
    }
    if (!sameNames(spec.inputs, session.inputNames) || !sameNames(spec.outputs, session.outputNames)) {
      throw new ModelError(`${name}.onnx has inputs ${session.inputNames} and outputs ${session.outputNames}, ` +
                           `its sidecar says ${spec.inputs.map((t) => t.name)} and ${spec.outputs.map((t) => t.name)}`);
    }
    return new OnnxModel(ort, spec, session);
  }

  // The declared shape of an input or output with the batch axis set to `batch`.
  shape(tensorName, batch) {
    const tensor = [...this.spec.inputs, ...this.spec.outputs].find((t) => t.name === tensorName);
    if (!tensor) throw new ModelError(`${this.name} has no tensor ${tensorName}`);
    return tensor.shape.map((d) => (d === "batch" ? batch : d));
  }

  // onnx_model.OnnxModel.run: float32 inputs by name [batch, ...] -> outputs (Float32Array) in sidecar order.
  async run(batch, inputs) {
    const feeds = {};
    for (const tensor of this.spec.inputs) {
      if (!(tensor.name in inputs)) throw new ModelError(`${this.name} needs input ${tensor.name}`);
      feeds[tensor.name] = new this.ort.Tensor("float32", Float32Array.from(inputs[tensor.name]),
                                               this.shape(tensor.name, batch));
    }
    const results = await this.session.run(feeds);
    return this.spec.outputs.map((t) => results[t.name].data);
  }
}
