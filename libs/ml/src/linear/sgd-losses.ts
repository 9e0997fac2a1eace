/** A loss of the prediction p against the target y (±1 for classifiers), with its derivative in p. */
export interface SgdLoss {
  loss(p: number, y: number): number;
  dloss(p: number, y: number): number;
}

/** max(0, 1 − y·p): the linear SVM. */
export const hinge: SgdLoss = {
  loss: (p, y) => Math.max(0, 1 - p * y),
  dloss: (p, y) => (p * y <= 1 ? -y : 0),
};

/** log(1 + e^(−y·p)), computed as sklearn does (cut-offs at ±18, log rather than log1p) so its stopping rule decides alike. */
export const logLoss: SgdLoss = {
  loss(p, y) {
    const z = p * y;
    if (z > 18) return Math.exp(-z);
    if (z < -18) return -z;
    return Math.log(1 + Math.exp(-z));
  },
  dloss(p, y) {
    const z = p * y;
    if (z > 18) return -y * Math.exp(-z);
    if (z < -18) return -y;
    return -y / (Math.exp(z) + 1);
  },
};

/** (p − y)²/2. */
export const squaredError: SgdLoss = {
  loss: (p, y) => 0.5 * (p - y) ** 2,
  dloss: (p, y) => p - y,
};
