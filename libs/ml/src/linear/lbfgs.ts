/** Writes the gradient at x into `grad` and returns the objective there. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIter: number;
  /** Stop when max |gradient| ≤ gtol (scipy's pgtol, sklearn's tol). */
  gtol: number;
  /** Stop when the relative decrease of the objective is ≤ ftol (sklearn passes 64·ε). */
  ftol?: number;
  /** Correction pairs kept (scipy's maxcor). */
  memory?: number;
  maxLineSearch?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  converged: boolean;
}

const C1 = 1e-4;
const C2 = 0.9;

/** Unconstrained L-BFGS (two-loop recursion) with a weak-Wolfe bracketing line search. */
export function minimizeLbfgs(f: Objective, x0: Float64Array, o: LbfgsOptions): LbfgsResult {
  const n = x0.length;
  const memory = o.memory ?? 10;
  const ftol = o.ftol ?? 64 * Number.EPSILON;
  const x = x0.slice();
  const g = new Float64Array(n);
  let value = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  for (let iter = 0; iter < o.maxIter; iter++) {
    if (maxAbs(g) <= o.gtol) return { x, value, iterations: iter, converged: true };
    direction(g, S, Y, rho, d);
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Curvature pairs went stale: restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i];
      dg = -dot(g, g);
    }
    const initial = S.length === 0 ? Math.min(1, 1 / Math.sqrt(-dg)) : 1;
    const step = lineSearch(f, x, value, g, d, dg, initial, xNew, gNew, o.maxLineSearch ?? 50);
    if (step === null) return { x, value, iterations: iter, converged: false };
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const previous = value;
    value = step;
    x.set(xNew);
    g.set(gNew);
    const sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
      if (S.length > memory) (S.shift(), Y.shift(), rho.shift());
    }
    if ((previous - value) / Math.max(Math.abs(previous), Math.abs(value), 1) <= ftol) {
      return { x, value, iterations: iter + 1, converged: maxAbs(g) <= o.gtol };
    }
  }
  return { x, value, iterations: o.maxIter, converged: maxAbs(g) <= o.gtol };
}

function direction(g: Float64Array, S: Float64Array[], Y: Float64Array[], rho: number[], d: Float64Array): void {
  const m = S.length;
  const alpha = new Float64Array(m);
  for (let i = 0; i < g.length; i++) d[i] = -g[i];
  for (let j = m - 1; j >= 0; j--) {
    alpha[j] = rho[j] * dot(S[j], d);
    axpy(-alpha[j], Y[j], d);
  }
  if (m > 0) {
    const gamma = 1 / (rho[m - 1] * dot(Y[m - 1], Y[m - 1]));
    for (let i = 0; i < d.length; i++) d[i] *= gamma;
  }
  for (let j = 0; j < m; j++) {
    const beta = rho[j] * dot(Y[j], d);
    axpy(alpha[j] - beta, S[j], d);
  }
}

/** Finds a step meeting the Armijo and curvature conditions; writes the point and gradient, returns the value there. */
function lineSearch(
  f: Objective,
  x: Float64Array,
  value: number,
  g: Float64Array,
  d: Float64Array,
  dg: number,
  initial: number,
  xNew: Float64Array,
  gNew: Float64Array,
  maxSteps: number,
): number | null {
  let lo = 0;
  let hi = Infinity;
  let step = initial;
  let fallback: number | null = null;
  for (let i = 0; i < maxSteps; i++) {
    for (let j = 0; j < x.length; j++) xNew[j] = x[j] + step * d[j];
    const v = f(xNew, gNew);
    if (!(v <= value + C1 * step * dg)) {
      hi = step;
      // Minimiser of the quadratic through value, dg and v, kept inside the bracket.
      const q = (-dg * step * step) / (2 * (v - value - dg * step));
      step = Number.isFinite(q) ? Math.min(Math.max(q, lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo)) : (lo + hi) / 2;
      continue;
    }
    fallback = v;
    if (dot(gNew, d) >= C2 * dg) return v;
    lo = step;
    step = hi === Infinity ? 2 * step : (lo + hi) / 2;
  }
  // An Armijo step without the curvature condition still decreases the objective; take the last one found.
  if (fallback === null) return null;
  for (let j = 0; j < x.length; j++) xNew[j] = x[j] + lo * d[j];
  return f(xNew, gNew);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

