/** Bytes that are not a model onnxruntime can use: not ONNX at all, structurally broken, or rejected at load. */
export class OnnxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxFormatError";
  }
}

/** The model loaded but inference failed, usually because the feeds do not fit its inputs. */
export class OnnxRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxRunError";
  }
}

/**
 * A matrix given as columns and asked to be finite (ColumnsFeed.finite) held NaN or
 * ±Infinity: the first such value, by row, and its column's index.
 */
export class NonFiniteInputError extends Error {
  constructor(
    readonly column: number,
    readonly row: number,
    readonly value: number,
  ) {
    super(`column ${column} holds ${value} at row ${row}`);
    this.name = "NonFiniteInputError";
  }
}

/** Why a model's output is not a tree ensemble's sums that can be read (an explainer falls back to running the model). */
export class NotTreeEnsembleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotTreeEnsembleError";
  }
}

/** The worker pool could not do the call: it is closed, a worker crashed, or a model key is unknown. */
export class OnnxPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxPoolError";
  }
}

/** onnxruntime messages can run to kilobytes (whole node dumps); keep the start, which names the problem. */
export function trimMessage(message: string, max = 400): string {
  const flat = message.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
