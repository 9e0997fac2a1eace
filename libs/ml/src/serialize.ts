import { ModelFormatError } from "./errors.js";
import type { Estimator } from "./estimator.js";

/**
 * The documented, versioned format of a fitted model:
 *   { format: "kiln.ml/v1", kind: "Ridge", params: {...}, state: {...} }
 * `state` is plain JSON where typed arrays are written as
 *   { "$typed": "float64" | "float32" | "int32" | "uint8", "base64": "...", "length": n }
 * (little-endian), so a stored model can be loaded, re-fitted or partial-fitted later and
 * re-exported to ONNX without loss.
 */
export const FORMAT = "kiln.ml/v1";

export interface SerializedModel {
  format: typeof FORMAT;
  kind: string;
  params: Record<string, unknown>;
  state: unknown;
}

type TypedName = "float64" | "float32" | "int32" | "uint8";
const typed = { float64: Float64Array, float32: Float32Array, int32: Int32Array, uint8: Uint8Array } as const;

/** Encodes typed arrays (anywhere in the value) for JSON. */
export function encodeState(value: unknown): unknown {
  if (value instanceof Float64Array) return pack("float64", value);
  if (value instanceof Float32Array) return pack("float32", value);
  if (value instanceof Int32Array) return pack("int32", value);
  if (value instanceof Uint8Array) return pack("uint8", value);
  if (Array.isArray(value)) return value.map(encodeState);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeState(v)]));
  return value;
}

export function decodeState(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeState);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.$typed === "string") return unpack(o.$typed as TypedName, o.base64 as string);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decodeState(v)]));
  }
  return value;
}

function pack(name: TypedName, a: ArrayBufferView & { length: number }) {
  return { $typed: name, base64: Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64"), length: a.length };
}

function unpack(name: TypedName, base64: string) {
  const Type = typed[name];
  if (!Type) throw new ModelFormatError(`unknown typed array "${name}" in a serialized model`, "BAD_MODEL_STATE");
  const bytes = Buffer.from(base64, "base64");
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes); // aligned, owned memory
  return new Type(copy.buffer, 0, copy.length / Type.BYTES_PER_ELEMENT);
}

type Loader = (model: SerializedModel) => Estimator;
const loaders = new Map<string, Loader>();

/** Each estimator module registers how to load its kind. */
export function registerLoader(kind: string, load: Loader): void {
  loaders.set(kind, load);
}

/** Loads any serialized estimator (or pipeline). */
export function loadModel(model: SerializedModel | string): Estimator {
  const m = (typeof model === "string" ? JSON.parse(model) : model) as SerializedModel;
  if (m?.format !== FORMAT) throw new ModelFormatError(`not a ${FORMAT} model (format ${String(m?.format)})`, "UNKNOWN_FORMAT");
  const load = loaders.get(m.kind);
  if (!load) throw new ModelFormatError(`unknown estimator kind "${m.kind}"`, "UNKNOWN_KIND");
  return load(m);
}
