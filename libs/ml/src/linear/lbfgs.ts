import { addScaled, dot as dotAt } from "./kernels.js";

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
  const ftol = o.ftol ?? 64 * Number.EPSILON;
  const x = x0.slice();
  const g = new Float64Array(n);
  let value = f(x, g);
  const pairs = new CorrectionPairs(n, o.memory ?? 10);
  const d = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  for (let iter = 0; iter < o.maxIter; iter++) {
    if (maxAbs(g) <= o.gtol) return { x, value, iterations: iter, converged: true };
    pairs.direction(g, d);
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Curvature pairs went stale: restart from steepest descent.
      pairs.clear();
      for (let i = 0; i < n; i++) d[i] = -g[i];
      dg = -dot(g, g);
    }
    const initial = pairs.size === 0 ? Math.min(1, 1 / Math.sqrt(-dg)) : 1;
    const step = lineSearch(f, x, value, g, d, dg, initial, xNew, gNew, o.maxLineSearch ?? 50);
    if (step === null) return { x, value, iterations: iter, converged: false };
    pairs.add(x, xNew, g, gNew);
    const previous = value;
    value = step;
    x.set(xNew);
    g.set(gNew);
    if ((previous - value) / Math.max(Math.abs(previous), Math.abs(value), 1) <= ftol) {
      return { x, value, iterations: iter + 1, converged: maxAbs(g) <= o.gtol };
    }
  }
  return { x, value, iterations: o.maxIter, converged: maxAbs(g) <= o.gtol };
}

/** The last `capacity` steps s = x′ − x and gradient changes y = g′ − g, in a ring of preallocated rows. */
export class CorrectionPairs {
  private readonly S: Float64Array[];
  private readonly Y: Float64Array[];
  /** The step being added, swapped into the ring only if kept (a rejected one must not overwrite the oldest). */
  private s: Float64Array;
  private y: Float64Array;
  private readonly rho: Float64Array;
  private readonly alpha: Float64Array;
  /** Ring index of the oldest pair. */
  private oldest = 0;
  size = 0;

  constructor(n: number, private readonly capacity: number) {
    this.S = Array.from({ length: capacity }, () => new Float64Array(n));
    this.Y = Array.from({ length: capacity }, () => new Float64Array(n));
    this.s = new Float64Array(n);
    this.y = new Float64Array(n);
    this.rho = new Float64Array(capacity);
    this.alpha = new Float64Array(capacity);
  }

  clear(): void {
    this.size = 0;
    this.oldest = 0;
  }

  /** Keeps the step's pair when its curvature s·y is positive enough, dropping the oldest when full. */
  add(x: Float64Array, xNew: Float64Array, g: Float64Array, gNew: Float64Array): void {
    const { s, y } = this;
    for (let i = 0; i < s.length; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (!(sy > 1e-10 * dot(y, y))) return;
    const slot = (this.oldest + this.size) % this.capacity;
    [this.s, this.S[slot]] = [this.S[slot], s];
    [this.y, this.Y[slot]] = [this.Y[slot], y];
    this.rho[slot] = 1 / sy;
    if (this.size < this.capacity) this.size++;
    else this.oldest = (this.oldest + 1) % this.capacity;
  }

  /** d = −H·g, H the inverse-Hessian estimate of the pairs (newest first, then back). */
  direction(g: Float64Array, d: Float64Array): void {
    const { S, Y, rho, alpha, size, capacity, oldest } = this;
    for (let i = 0; i < g.length; i++) d[i] = -g[i];
    for (let j = size - 1; j >= 0; j--) {
      const at = (oldest + j) % capacity;
      alpha[j] = rho[at] * dot(S[at], d);
      axpy(-alpha[j], Y[at], d);
    }
    if (size > 0) {
      const newest = (oldest + size - 1) % capacity;
      const gamma = 1 / (rho[newest] * dot(Y[newest], Y[newest]));
      for (let i = 0; i < d.length; i++) d[i] *= gamma;
    }
    for (let j = 0; j < size; j++) {
      const at = (oldest + j) % capacity;
      const beta = rho[at] * dot(Y[at], d);
      axpy(alpha[j] - beta, S[at], d);
    }
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
  return dotAt(a, 0, b, 0, a.length);
}

/** y += a·x. */
function axpy(a: number, x: Float64Array, y: Float64Array): void {
  addScaled(y, x, 0, x.length, a);
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

