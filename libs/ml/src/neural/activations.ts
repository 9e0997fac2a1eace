/** sklearn's hidden-layer activations. */
export type Activation = "identity" | "logistic" | "tanh" | "relu";
/** What the last layer applies: probabilities of one class, of several, or the value itself. */
export type OutputActivation = "logistic" | "softmax" | "identity";

export const ACTIVATIONS: readonly Activation[] = ["identity", "logistic", "tanh", "relu"];

/** Applies the activation in place to a[from..to). */
export function activate(kind: Activation | OutputActivation, a: Float64Array, rows: number, width: number): void {
  const n = rows * width;
  switch (kind) {
    case "relu":
      // Arithmetic, not a branch: whether a unit is active is a coin flip, and a branch (or a
      // select, which V8 compiles to one) mispredicts on half of them: 3-4x the loop's time.
      // (+ 0 turns the −0 of a negative times 0 into 0, as the branch left it.)
      for (let i = 0; i < n; i++) {
        const v = a[i];
        a[i] = v * +(v >= 0) + 0;
      }
      return;
    case "tanh":
      for (let i = 0; i < n; i++) a[i] = Math.tanh(a[i]);
      return;
    case "logistic":
      for (let i = 0; i < n; i++) a[i] = a[i] >= 0 ? 1 / (1 + Math.exp(-a[i])) : Math.exp(a[i]) / (1 + Math.exp(a[i]));
      return;
    case "softmax":
      for (let r = 0; r < rows; r++) {
        const at = r * width;
        let max = -Infinity;
        for (let k = 0; k < width; k++) max = Math.max(max, a[at + k]);
        let sum = 0;
        for (let k = 0; k < width; k++) sum += a[at + k] = Math.exp(a[at + k] - max);
        for (let k = 0; k < width; k++) a[at + k] /= sum;
      }
      return;
    case "identity":
      return;
  }
}

/** delta[i] *= f'(z) written through the activation's output a = f(z). */
export function multiplyByDerivative(kind: Activation, a: Float64Array, delta: Float64Array, n: number): void {
  switch (kind) {
    case "relu":
      // Arithmetic, not a branch or a select (see activate).
      for (let i = 0; i < n; i++) delta[i] = delta[i] * +(a[i] > 0) + 0;
      return;
    case "tanh":
      for (let i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i];
      return;
    case "logistic":
      for (let i = 0; i < n; i++) delta[i] *= a[i] * (1 - a[i]);
      return;
    case "identity":
      return;
  }
}
