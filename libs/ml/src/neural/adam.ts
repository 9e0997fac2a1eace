/** Adam's moments and step count, kept in the model so partialFit can go on where training stopped. */
export interface AdamState {
  t: number;
  m: Float64Array[];
  v: Float64Array[];
}

export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export function adamState(shapes: Float64Array[]): AdamState {
  return { t: 0, m: shapes.map((p) => new Float64Array(p.length)), v: shapes.map((p) => new Float64Array(p.length)) };
}

/** One step over every parameter array, with sklearn's bias-corrected learning rate. */
export function adamStep(params: Float64Array[], grads: Float64Array[], state: AdamState, s: AdamSettings): void {
  state.t++;
  const rate = (s.learningRate * Math.sqrt(1 - s.beta2 ** state.t)) / (1 - s.beta1 ** state.t);
  for (let p = 0; p < params.length; p++) {
    const x = params[p];
    const g = grads[p];
    const m = state.m[p];
    const v = state.v[p];
    for (let i = 0; i < x.length; i++) {
      m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
      v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
      x[i] -= (rate * m[i]) / (Math.sqrt(v[i]) + s.epsilon);
    }
  }
}
