/** Every error libs/ml throws for bad input or misuse; `reason` is stable for callers to match. */
export class MLError extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** X or y is unusable: NaN/Infinity (naming the column), wrong width, empty, one class... */
export class InvalidInputError extends MLError {}

/** predict/transform/toOnnx before fit. */
export class NotFittedError extends MLError {
  constructor(kind: string) {
    super(`${kind} is not fitted yet: call fit() first`, "NOT_FITTED");
  }
}

/** A serialized model this version cannot read. */
export class ModelFormatError extends MLError {}
