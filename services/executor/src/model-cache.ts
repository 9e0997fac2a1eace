import type { Kiln, ModelVersionInfo } from "@kiln/sdk";
import { FORMAT, type SerializedModel } from "@kiln/ml";
import { TRAINABLE_ATTACHMENT, TRAINABLE_FORMAT } from "@kiln/contracts";
import { onnxModelKey, withFloatOutputs } from "@kiln/onnx";
import { failedPrecondition } from "./job-failure.js";

const MAX_EXPOSING = 8;

/**
 * Model files by content hash, kept in memory up to a byte budget (least recently used
 * go first), so a model predicting batch after batch is downloaded once.
 */
export class ModelCache {
  private readonly files = new Map<string, Uint8Array>();
  private bytes = 0;
  /** Files with a value added to their outputs (see withFloatOutput), by sha256 and value. */
  private readonly exposing = new Map<string, { bytes: Uint8Array; key: string }>();

  constructor(
    private readonly kiln: Kiln,
    private readonly maxBytes: number,
  ) {}

  version(name: string): Promise<ModelVersionInfo> {
    return this.kiln.models.get(name);
  }

  /** The model file; `sha256` is its cache key (the registry checks every byte against it). */
  async file(version: ModelVersionInfo): Promise<Uint8Array> {
    const cached = this.files.get(version.sha256);
    if (cached) {
      this.files.delete(version.sha256);
      this.files.set(version.sha256, cached);
      return cached;
    }
    const bytes = await this.kiln.models.bytes(version.name);
    if (bytes.length <= this.maxBytes) {
      this.files.set(version.sha256, bytes);
      this.bytes += bytes.length;
      for (const [key, value] of this.files) {
        if (this.bytes <= this.maxBytes) break;
        this.files.delete(key);
        this.bytes -= value.length;
      }
    }
    return bytes;
  }

  /** The model file with more graph outputs (a ZipMap's input, what a tree ensemble reads), and its key in the worker pool; the last few are kept. */
  async withFloatOutput(version: ModelVersionInfo, value: string | string[]): Promise<{ bytes: Uint8Array; key: string }> {
    const values = typeof value === "string" ? [value] : value;
    const id = `${version.sha256}+${values.join("+")}`;
    let found = this.exposing.get(id);
    if (!found) {
      const bytes = withFloatOutputs(await this.file(version), values);
      found = { bytes, key: onnxModelKey(bytes) };
      this.exposing.set(id, found);
      if (this.exposing.size > MAX_EXPOSING) this.exposing.delete(this.exposing.keys().next().value!);
    }
    return found;
  }

  /** The kiln.ml estimator a version can be trained from: its file, or its kiln-ml.json attachment. */
  async trainable(version: ModelVersionInfo): Promise<SerializedModel> {
    let text: string;
    if (version.format === TRAINABLE_FORMAT) text = new TextDecoder().decode(await this.file(version));
    else if (version.attachments.some((a) => a.name === TRAINABLE_ATTACHMENT)) text = new TextDecoder().decode(await this.kiln.models.attachment(version.name, TRAINABLE_ATTACHMENT));
    else throw failedPrecondition("NOT_TRAINABLE", `${version.name} has no trainable state (an uploaded ${version.format} model)`);
    const model = JSON.parse(text) as SerializedModel;
    if (model?.format !== FORMAT || typeof model.kind !== "string") throw failedPrecondition("NOT_TRAINABLE", `${version.name}: its ${TRAINABLE_ATTACHMENT} is not a ${FORMAT} model`);
    return model;
  }
}
