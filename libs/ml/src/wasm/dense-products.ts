import { emitter, op, I32, V128, type KernelFunction } from "./assemble.js";
import { instantiateKernel, type KernelMemory } from "./kernel-instance.js";

/*
 * A dense layer's two large products on tiles of eight f64x2 sums (four rows or inputs by
 * four columns). Every entry is summed from its initial value over the shared dimension in
 * order, one product and one addition at a time (no fused multiply-add), as the plain
 * JavaScript loops do: the results are the same to the bit. Matrices are row-major f64
 * with byte addresses; widths marked "nw" are a multiple of 4 (zero-padded).
 */

/**
 * forward(a, quads, k, b, nw, bias, c): C[r, j] = bias[j] + Σ_p A[r, p]·B[p, j] for 4·quads
 * rows of A (k a row), B (k × nw), bias (nw) and C (4·quads × nw).
 */
function forwardFunction(): KernelFunction {
  const [A, QUADS, K, B, NW, BIAS, C] = [0, 1, 2, 3, 4, 5, 6];
  const [AROW, AEND, ARB, CRB, J, P, BAT, PEND, CAT] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const ACC = [16, 17, 18, 19, 20, 21, 22, 23]; // ACC[2r + h]: row r, columns j + 2h, j + 2h + 1
  const S = [24, 25, 26, 27];
  const [B0, B1] = [28, 29];
  const { body, emit, add, loopWhileBelow, next } = emitter();
  emit(op.localGet(K), op.i32Const(3), op.i32Shl, op.localSet(ARB));
  emit(op.localGet(NW), op.i32Const(3), op.i32Shl, op.localSet(CRB));
  emit(op.localGet(QUADS), op.localGet(ARB), op.i32Const(2), op.i32Shl, op.i32Mul, op.localGet(A), op.i32Add, op.localSet(AEND));
  emit(op.localGet(A), op.localSet(AROW));
  loopWhileBelow(AROW, AEND);
  emit(op.i32Const(0), op.localSet(J));
  loopWhileBelow(J, CRB);
  for (let r = 0; r < 4; r++) {
    for (const h of [0, 1]) emit(op.localGet(BIAS), op.localGet(J), op.i32Add, op.v128Load(16 * h), op.localSet(ACC[2 * r + h]));
  }
  emit(op.localGet(AROW), op.localSet(P), op.localGet(AROW), op.localGet(ARB), op.i32Add, op.localSet(PEND));
  emit(op.localGet(B), op.localGet(J), op.i32Add, op.localSet(BAT));
  loopWhileBelow(P, PEND);
  S.forEach((s, r) => {
    emit(op.localGet(P));
    if (r > 0) emit(op.localGet(ARB), ...(r > 1 ? [op.i32Const(r), op.i32Mul] : []), op.i32Add);
    emit(op.f64Splat(0), op.localSet(s));
  });
  emit(op.localGet(BAT), op.v128Load(0), op.localSet(B0), op.localGet(BAT), op.v128Load(16), op.localSet(B1));
  S.forEach((s, r) =>
    [B0, B1].forEach((b, h) => emit(op.localGet(ACC[2 * r + h]), op.localGet(s), op.localGet(b), op.f64x2Mul, op.f64x2Add, op.localSet(ACC[2 * r + h]))),
  );
  add(BAT, [op.localGet(CRB)]);
  next(P, [op.i32Const(8)]);
  emit(op.localGet(C), op.localGet(J), op.i32Add, op.localSet(CAT));
  for (let r = 0; r < 4; r++) {
    for (const h of [0, 1]) emit(op.localGet(CAT), op.localGet(ACC[2 * r + h]), op.v128Store(16 * h));
    if (r < 3) add(CAT, [op.localGet(CRB)]);
  }
  next(J, [op.i32Const(32)]);
  add(C, [op.localGet(CRB), op.i32Const(2), op.i32Shl]);
  next(AROW, [op.localGet(ARB), op.i32Const(2), op.i32Shl]);
  return { name: "forward", params: 7, locals: [{ count: 9, type: I32 }, { count: 14, type: V128 }], body };
}

/**
 * gradient(a, rows, k, d, nw, c, kq): C[p, j] += Σ_r A[r, p]·D[r, j] over the rows, for A
 * (rows × k, read up to 4·kq columns: entries past k land in rows of C the caller ignores),
 * D (rows × nw) and C (4·kq × nw).
 */
function gradientFunction(): KernelFunction {
  const [A, ROWS, K, D, NW, C, KQ] = [0, 1, 2, 3, 4, 5, 6];
  const [ARB, DRB, P, PEND, J, AAT, DAT, DEND, CAT] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const ACC = [16, 17, 18, 19, 20, 21, 22, 23]; // ACC[2t + h]: input p + t, columns j + 2h, j + 2h + 1
  const S = [24, 25, 26, 27];
  const [D0, D1] = [28, 29];
  const { body, emit, add, loopWhileBelow, next } = emitter();
  emit(op.localGet(K), op.i32Const(3), op.i32Shl, op.localSet(ARB));
  emit(op.localGet(NW), op.i32Const(3), op.i32Shl, op.localSet(DRB));
  emit(op.localGet(KQ), op.i32Const(5), op.i32Shl, op.localSet(PEND)); // bytes of 4·kq inputs
  emit(op.i32Const(0), op.localSet(P));
  loopWhileBelow(P, PEND);
  emit(op.i32Const(0), op.localSet(J));
  loopWhileBelow(J, DRB);
  // C rows p..p+3 at columns j..j+3
  emit(op.localGet(P), op.localGet(NW), op.i32Mul, op.localGet(C), op.i32Add, op.localGet(J), op.i32Add, op.localSet(CAT));
  for (let t = 0; t < 4; t++) {
    for (const h of [0, 1]) {
      emit(op.localGet(CAT));
      if (t > 0) emit(op.localGet(DRB), ...(t > 1 ? [op.i32Const(t), op.i32Mul] : []), op.i32Add);
      emit(op.v128Load(16 * h), op.localSet(ACC[2 * t + h]));
    }
  }
  emit(op.localGet(A), op.localGet(P), op.i32Add, op.localSet(AAT), op.localGet(D), op.localGet(J), op.i32Add, op.localTee(DAT));
  emit(op.localGet(ROWS), op.localGet(DRB), op.i32Mul, op.i32Add, op.localSet(DEND));
  loopWhileBelow(DAT, DEND);
  S.forEach((s, t) => emit(op.localGet(AAT), op.f64Splat(8 * t), op.localSet(s)));
  emit(op.localGet(DAT), op.v128Load(0), op.localSet(D0), op.localGet(DAT), op.v128Load(16), op.localSet(D1));
  S.forEach((s, t) =>
    [D0, D1].forEach((dv, h) => emit(op.localGet(ACC[2 * t + h]), op.localGet(s), op.localGet(dv), op.f64x2Mul, op.f64x2Add, op.localSet(ACC[2 * t + h]))),
  );
  add(AAT, [op.localGet(ARB)]);
  next(DAT, [op.localGet(DRB)]);
  for (let t = 0; t < 4; t++) {
    for (const h of [0, 1]) emit(op.localGet(CAT), op.localGet(ACC[2 * t + h]), op.v128Store(16 * h));
    if (t < 3) add(CAT, [op.localGet(DRB)]);
  }
  next(J, [op.i32Const(32)]);
  next(P, [op.i32Const(32)]);
  return { name: "gradient", params: 7, locals: [{ count: 9, type: I32 }, { count: 14, type: V128 }], body };
}

export interface DenseProductsKernel {
  forward(a: number, quads: number, k: number, b: number, nw: number, bias: number, c: number): void;
  gradient(a: number, rows: number, k: number, d: number, nw: number, c: number, kq: number): void;
  memory: KernelMemory;
}

let kernel: DenseProductsKernel | null | undefined;

/** The kernel (one instance; its memory holds a block of rows at a time), or null where WebAssembly SIMD is missing. */
export function denseProductsKernel(): DenseProductsKernel | null {
  if (kernel === undefined) kernel = instantiateKernel<DenseProductsKernel>([forwardFunction(), gradientFunction()]);
  return kernel;
}
