import { denseProductsKernel, type DenseProductsKernel } from "../wasm/dense-products.js";
import { kernelMemory } from "../wasm/kernel-instance.js";

/**
 * The three products of a dense layer's forward and backward pass, on row-major Float64Arrays.
 * Each output is computed in register tiles (3 × 3: six loads feed nine products; 2 × 4), where
 * updating a row of C at a time costs a load and a store of C per product; memory traffic,
 * not arithmetic, is what bounds scalar JavaScript here. Every entry is still summed in the
 * same order as the plain loops (from its initial value, over the shared dimension in order),
 * so the results are bit for bit those of the straightforward code.
 */

/** Below this many multiplications copying into the SIMD kernel's memory costs more than it saves. */
const SIMD_MIN_PRODUCTS = 8192;
/** Rows of A (and D) copied into the kernel's memory at a time. */
const SIMD_ROWS = 256;

/** C (m × n) = bias + A (m × k) · B (k × n); bias has n entries. In WebAssembly SIMD where it runs, with the same result. */
export function multiplyAddBias(A: Float64Array, B: Float64Array, bias: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const kernel = m * k * n >= SIMD_MIN_PRODUCTS ? denseProductsKernel() : null;
  if (kernel) multiplyAddBiasSimd(kernel, A, B, bias, C, m, k, n);
  else multiplyAddBiasInJs(A, B, bias, C, m, k, n);
}

/** C (k × n) += Aᵀ · D, for A (m × k) and D (m × n): the weight gradient summed over a batch of m rows. In WebAssembly SIMD where it runs, with the same result. */
export function addTransposedProduct(A: Float64Array, D: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const kernel = m * k * n >= SIMD_MIN_PRODUCTS ? denseProductsKernel() : null;
  if (kernel) addTransposedProductSimd(kernel, A, D, C, m, k, n);
  else addTransposedProductInJs(A, D, C, m, k, n);
}

export function multiplyAddBiasSimd(kernel: DenseProductsKernel, A: Float64Array, B: Float64Array, bias: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const nw = Math.ceil(n / 4) * 4;
  // In f64: B (k × nw), the bias, a block of A's rows, the block's rows of C.
  const biasAt = k * nw;
  const aAt = biasAt + nw;
  const cAt = aAt + SIMD_ROWS * k;
  const memory = kernelMemory(kernel.memory, (cAt + SIMD_ROWS * nw) * 8);
  setPadded(memory, 0, B, k, n, nw);
  setPadded(memory, biasAt, bias, 1, n, nw);
  for (let first = 0; first < m; first += SIMD_ROWS) {
    const rows = Math.min(SIMD_ROWS, m - first);
    const quads = Math.ceil(rows / 4);
    memory.set(A.subarray(first * k, (first + rows) * k), aAt);
    memory.fill(0, aAt + rows * k, aAt + quads * 4 * k);
    kernel.forward(aAt * 8, quads, k, 0, nw, biasAt * 8, cAt * 8);
    getPadded(memory, cAt, C, first * n, rows, n, nw);
  }
}

export function addTransposedProductSimd(kernel: DenseProductsKernel, A: Float64Array, D: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const nw = Math.ceil(n / 4) * 4;
  const kq = Math.ceil(k / 4);
  // In f64: C (4·kq × nw), a block of D's rows (nw each), a block of A's rows (and 4 more values the last row's tile reads past k).
  const dAt = 4 * kq * nw;
  const aAt = dAt + SIMD_ROWS * nw;
  const memory = kernelMemory(kernel.memory, (aAt + SIMD_ROWS * k + 4) * 8);
  memory.fill(0, 0, dAt);
  setPadded(memory, 0, C, k, n, nw);
  for (let first = 0; first < m; first += SIMD_ROWS) {
    const rows = Math.min(SIMD_ROWS, m - first);
    setPadded(memory, dAt, D.subarray(first * n, (first + rows) * n), rows, n, nw);
    memory.set(A.subarray(first * k, (first + rows) * k), aAt);
    memory.fill(0, aAt + rows * k, aAt + rows * k + 4);
    kernel.gradient(aAt * 8, rows, k, dAt * 8, nw, 0, kq);
  }
  getPadded(memory, 0, C, 0, k, n, nw);
}

/** rows × n values of `from` into memory at `at`, each row nw wide with zeros after its n. */
function setPadded(memory: Float64Array, at: number, from: Float64Array, rows: number, n: number, nw: number): void {
  if (nw === n) return void memory.set(from.subarray(0, rows * n), at);
  for (let i = 0; i < rows; i++) {
    memory.set(from.subarray(i * n, (i + 1) * n), at + i * nw);
    memory.fill(0, at + i * nw + n, at + (i + 1) * nw);
  }
}

/** The reverse of setPadded: rows × n values from memory at `at` (rows nw wide) into `to` at `toAt`. */
function getPadded(memory: Float64Array, at: number, to: Float64Array, toAt: number, rows: number, n: number, nw: number): void {
  if (nw === n) return void to.set(memory.subarray(at, at + rows * n), toAt);
  for (let i = 0; i < rows; i++) to.set(memory.subarray(at + i * nw, at + i * nw + n), toAt + i * n);
}

/** multiplyAddBias in JavaScript register tiles. */
export function multiplyAddBiasInJs(A: Float64Array, B: Float64Array, bias: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const m3 = m - (m % 3);
  const n3 = n - (n % 3);
  for (let i = 0; i < m3; i += 3) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    for (let j = 0; j < n3; j += 3) {
      let c00 = bias[j];
      let c01 = bias[j + 1];
      let c02 = bias[j + 2];
      let c10 = c00;
      let c11 = c01;
      let c12 = c02;
      let c20 = c00;
      let c21 = c01;
      let c22 = c02;
      for (let p = 0, b = j; p < k; p++, b += n) {
        const x0 = A[a0 + p];
        const x1 = A[a1 + p];
        const x2 = A[a2 + p];
        const y0 = B[b];
        const y1 = B[b + 1];
        const y2 = B[b + 2];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
      }
      const o = i * n + j;
      C[o] = c00;
      C[o + 1] = c01;
      C[o + 2] = c02;
      C[o + n] = c10;
      C[o + n + 1] = c11;
      C[o + n + 2] = c12;
      C[o + 2 * n] = c20;
      C[o + 2 * n + 1] = c21;
      C[o + 2 * n + 2] = c22;
    }
  }
  // The edges the tiles leave: the last n % 3 columns of the tiled rows, then the last m % 3 rows.
  for (let i = 0; i < m; i++) {
    for (let j = i < m3 ? n3 : 0; j < n; j++) {
      let c = bias[j];
      for (let p = 0, a = i * k, b = j; p < k; p++, b += n) c += A[a + p] * B[b];
      C[i * n + j] = c;
    }
  }
}

/** addTransposedProduct in JavaScript register tiles. */
export function addTransposedProductInJs(A: Float64Array, D: Float64Array, C: Float64Array, m: number, k: number, n: number): void {
  const k3 = k - (k % 3);
  const n3 = n - (n % 3);
  for (let i = 0; i < k3; i += 3) {
    for (let j = 0; j < n3; j += 3) {
      const o0 = i * n + j;
      const o1 = o0 + n;
      const o2 = o1 + n;
      let c00 = C[o0];
      let c01 = C[o0 + 1];
      let c02 = C[o0 + 2];
      let c10 = C[o1];
      let c11 = C[o1 + 1];
      let c12 = C[o1 + 2];
      let c20 = C[o2];
      let c21 = C[o2 + 1];
      let c22 = C[o2 + 2];
      for (let r = 0, a = i, d = j; r < m; r++, a += k, d += n) {
        const x0 = A[a];
        const x1 = A[a + 1];
        const x2 = A[a + 2];
        const y0 = D[d];
        const y1 = D[d + 1];
        const y2 = D[d + 2];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
      }
      C[o0] = c00;
      C[o0 + 1] = c01;
      C[o0 + 2] = c02;
      C[o1] = c10;
      C[o1 + 1] = c11;
      C[o1 + 2] = c12;
      C[o2] = c20;
      C[o2 + 1] = c21;
      C[o2 + 2] = c22;
    }
  }
  for (let i = 0; i < k; i++) {
    for (let j = i < k3 ? n3 : 0; j < n; j++) {
      let c = C[i * n + j];
      for (let r = 0, a = i, d = j; r < m; r++, a += k, d += n) c += A[a] * D[d];
      C[i * n + j] = c;
    }
  }
}

/** P (m × k) = D · Wᵀ, for D (m × n) and W (k × n): the error sent back through a layer's weights. */
export function multiplyTransposed(D: Float64Array, W: Float64Array, P: Float64Array, m: number, n: number, k: number): void {
  let r = 0;
  for (; r + 1 < m; r += 2) {
    const d0 = r * n;
    const d1 = d0 + n;
    let i = 0;
    for (; i + 3 < k; i += 4) {
      const w0 = i * n;
      const w1 = w0 + n;
      const w2 = w1 + n;
      const w3 = w2 + n;
      let c00 = 0;
      let c01 = 0;
      let c02 = 0;
      let c03 = 0;
      let c10 = 0;
      let c11 = 0;
      let c12 = 0;
      let c13 = 0;
      for (let j = 0; j < n; j++) {
        const x0 = D[d0 + j];
        const x1 = D[d1 + j];
        const y0 = W[w0 + j];
        const y1 = W[w1 + j];
        const y2 = W[w2 + j];
        const y3 = W[w3 + j];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
      }
      const o = r * k + i;
      P[o] = c00;
      P[o + 1] = c01;
      P[o + 2] = c02;
      P[o + 3] = c03;
      P[o + k] = c10;
      P[o + k + 1] = c11;
      P[o + k + 2] = c12;
      P[o + k + 3] = c13;
    }
    for (; i < k; i++) {
      let c0 = 0;
      let c1 = 0;
      for (let j = 0; j < n; j++) {
        c0 += D[d0 + j] * W[i * n + j];
        c1 += D[d1 + j] * W[i * n + j];
      }
      P[r * k + i] = c0;
      P[r * k + k + i] = c1;
    }
  }
  for (; r < m; r++) {
    for (let i = 0; i < k; i++) {
      let c = 0;
      for (let j = 0; j < n; j++) c += D[r * n + j] * W[i * n + j];
      P[r * k + i] = c;
    }
  }
}
