import type { OnnxGraphBuilder } from "@kiln/onnx";
import { InvalidInputError, ModelFormatError, NotFittedError } from "./errors.js";
import type { OnnxOutputs, Params } from "./estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput, type ToMatrixOptions } from "./matrix.js";
import { modelToOnnx } from "./onnx-export.js";
import { decodeState, encodeState, FORMAT, type SerializedModel } from "./serialize.js";

/** What every fitted state records, so width checks and ONNX inputs need nothing else. */
export interface FittedState {
  nFeatures: number;
}

/**
 * Parameters (sklearn's get_params/set_params, unknown names rejected), the fitted state,
 * JSON and ONNX plumbing shared by every estimator.
 * Subclasses keep everything learned in `state`, which is exactly what `toJSON` writes.
 */
export abstract class BaseEstimator<P extends Params, S extends FittedState> {
  protected params: P;
  protected state?: S;

  protected constructor(
    readonly kind: string,
    private readonly defaults: P,
    params: Partial<P>,
  ) {
    this.params = structuredClone(defaults);
    this.setParams(params);
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  get takesMissingValues(): boolean {
    return false;
  }

  get predicts(): boolean {
    return typeof (this as { predict?: unknown }).predict === "function";
  }

  /** Width of X seen by fit; 0 before fit. */
  get nFeatures(): number {
    return this.state?.nFeatures ?? 0;
  }

  getParams(): P {
    return structuredClone(this.params);
  }

  setParams(params: Partial<P>): this {
    for (const [name, value] of Object.entries(params)) {
      if (!(name in this.defaults)) {
        throw new InvalidInputError(`${this.kind} has no parameter "${name}" (it has ${Object.keys(this.defaults).join(", ")})`, "UNKNOWN_PARAMETER");
      }
      if (value !== undefined) (this.params as Params)[name] = structuredClone(value);
    }
    return this;
  }

  toJSON(): SerializedModel {
    return { format: FORMAT, kind: this.kind, params: this.getParams(), state: this.state ? encodeState(this.state) : null };
  }

  toOnnx(): Uint8Array {
    return modelToOnnx(this);
  }

  abstract exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs;

  protected fittedState(): S {
    if (!this.state) throw new NotFittedError(this.kind);
    return this.state;
  }

  /** X at predict/transform time: fitted first, then finite values of the fitted width. */
  protected checkedInput(X: MatrixInput, options?: ToMatrixOptions): { m: Matrix; state: S } {
    const state = this.fittedState();
    const m = toMatrix(X, options);
    checkWidth(m, state.nFeatures, this.kind);
    return { m, state };
  }

  protected invalidParameter(name: string, requirement: string): never {
    throw new InvalidInputError(`${this.kind}: ${name} must be ${requirement}, got ${JSON.stringify(this.params[name])}`, "BAD_PARAMETER");
  }

  /** Rebuilds an estimator from `toJSON()` output: `create` makes it from the saved params, then the state goes in. */
  protected static restore<E extends BaseEstimator<Params, FittedState>>(create: (params: Params) => E, model: SerializedModel | string): E {
    const m = (typeof model === "string" ? JSON.parse(model) : model) as SerializedModel;
    if (m?.format !== FORMAT) throw new ModelFormatError(`not a ${FORMAT} model (format ${String(m?.format)})`, "UNKNOWN_FORMAT");
    const estimator = create(m.params ?? {});
    if (m.kind !== estimator.kind) throw new ModelFormatError(`expected a ${estimator.kind} model, got ${m.kind}`, "WRONG_KIND");
    const state = m.state == null ? undefined : decodeState(m.state);
    if (state !== undefined && typeof (state as FittedState).nFeatures !== "number") {
      throw new ModelFormatError(`${m.kind} state has no nFeatures`, "BAD_MODEL_STATE");
    }
    estimator.state = state as FittedState | undefined;
    return estimator;
  }
}
