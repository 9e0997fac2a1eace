import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { Params, TrainingCallback } from "../estimator.js";
import { BaseEstimator } from "../base-estimator.js";
import type { Matrix } from "../matrix.js";
import { Random } from "../random.js";
import { seedOf } from "../tree/params.js";
import type { OutputActivation } from "./activations.js";
import { adamState } from "./adam.js";
import { initialNetwork } from "./network.js";
import { exportNetwork } from "./onnx.js";
import { checkParams, MLP_DEFAULTS, predictOutputs, runEpochs, type MLPParams, type NetworkState } from "./training.js";

/** Training rows and held-out rows for early stopping, as row indices. */
interface Split {
  train: Int32Array;
  validation: Int32Array;
}

/**
 * What MLPClassifier and MLPRegressor share: sklearn's parameters, Glorot start, mini-batch Adam
 * epochs, the no-improvement stop, partialFit (one epoch, optimiser state kept), ONNX export.
 */
export abstract class MLPBase<P extends MLPParams & Params, S extends NetworkState> extends BaseEstimator<P, S> {
  onEpoch?: TrainingCallback;

  protected constructor(kind: string, extra: Omit<P, keyof MLPParams>, params: Partial<P>, onEpoch?: TrainingCallback) {
    super(kind, { ...MLP_DEFAULTS, ...extra } as P, params);
    this.onEpoch = onEpoch;
  }

  /** Mean training loss of each epoch (sklearn's loss_curve_). */
  get lossCurve(): number[] {
    return this.fittedState().lossCurve;
  }

  get nIter(): number {
    return this.fittedState().epochs;
  }

  /** Weight matrices, fan_in × fan_out (sklearn's coefs_). */
  get coefs(): Matrix[] {
    const net = this.fittedState().network;
    return net.weights.map((w, l) => ({ data: w, rows: net.sizes[l], cols: net.sizes[l + 1] }));
  }

  get intercepts(): Float64Array[] {
    return this.fittedState().network.biases;
  }

  /** A fresh network fitted to X with targets T (rows × outputs); `score` rates held-out rows for early stopping. */
  protected train(
    X: Matrix,
    T: Float64Array,
    output: OutputActivation,
    extra: Omit<S, keyof NetworkState>,
    score: (net: S, rows: Int32Array) => number,
  ): void {
    const p = this.params;
    checkParams(p, this.kind);
    const random = new Random(seedOf(p.randomState));
    const width = T.length / X.rows;
    const state = this.freshState(X.cols, width, output, extra, random);
    const split = p.earlyStopping ? holdOut(X.rows, p.validationFraction, random) : null;
    const rows = split ? split.train : null;
    const trainX = rows ? pick(X, rows) : X;
    const trainT = rows ? pickRows(T, width, rows) : T;
    this.state = state;
    runEpochs(state, trainX, trainT, p, {
      epochs: p.maxIter,
      random,
      onEpoch: this.onEpoch,
      validate: split ? () => score(state, split.validation) : undefined,
      stop: true,
    });
  }

  /** One epoch over X, creating the network on the first call. */
  protected trainIncrementally(X: Matrix, T: Float64Array, output: OutputActivation, extra: () => Omit<S, keyof NetworkState>): void {
    const p = this.params;
    checkParams(p, this.kind);
    const seed = seedOf(p.randomState ?? 0);
    this.state ??= this.freshState(X.cols, T.length / X.rows, output, extra(), new Random(seed));
    const random = new Random((seed + this.state.epochs) >>> 0);
    runEpochs(this.state, X, T, p, { epochs: 1, random, onEpoch: this.onEpoch, stop: false });
  }

  protected outputs(X: Matrix): Float64Array {
    return predictOutputs(this.fittedState(), this.params.activation, X);
  }

  protected exportNetwork(graph: OnnxGraphBuilder, input: string, prefix: string): string {
    const s = this.fittedState();
    return exportNetwork(graph, input, prefix, s.network, this.params.activation, s.output);
  }

  private freshState(nFeatures: number, width: number, output: OutputActivation, extra: Omit<S, keyof NetworkState>, random: Random): S {
    const p = this.params;
    const network = initialNetwork([nFeatures, ...p.hiddenLayerSizes, width], p.activation, random);
    return {
      nFeatures,
      network,
      output,
      adam: adamState([...network.weights, ...network.biases]),
      lossCurve: [],
      // JSON-safe stand-ins for ±Infinity, so a stored model resumes with the same stopping state
      bestLoss: Number.MAX_VALUE,
      noImprovement: 0,
      validationScores: [],
      bestValidationScore: -Number.MAX_VALUE,
      epochs: 0,
      ...extra,
    } as unknown as S;
  }
}

function holdOut(rows: number, fraction: number, random: Random): Split {
  const order = random.permutation(rows);
  const n = Math.max(1, Math.round(fraction * rows));
  return { train: order.slice(n).sort(), validation: order.slice(0, n).sort() };
}

export function pick(X: Matrix, rows: Int32Array): Matrix {
  return { data: pickRows(X.data, X.cols, rows), rows: rows.length, cols: X.cols };
}

function pickRows(data: Float64Array, width: number, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length * width);
  rows.forEach((r, i) => out.set(data.subarray(r * width, (r + 1) * width), i * width));
  return out;
}
