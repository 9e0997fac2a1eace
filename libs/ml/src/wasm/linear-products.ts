import { emitter, op, I32, V128, type KernelFunction } from "./assemble.js";
import { kernelFactory, type KernelMemory } from "./kernel-instance.js";

/**
 * scores(x, rows, width, w, outputs, out): out[r·outputs + c] = X[r] · W[c] for `rows` rows
 * of X at byte x and `outputs` rows of W at byte w, both `width` f64 a row (a multiple of
 * 4, zero-padded), each product in two f64x2 sums so the additions do not wait on each other.
 */
function scoresFunction(): KernelFunction {
  const [X, ROWS, WIDTH, W, OUTPUTS, OUT] = [0, 1, 2, 3, 4, 5];
  const [ROW_BYTES, ROW, ROW_END, C, WROW, J, A0, A1] = [6, 7, 8, 9, 10, 11, 12, 13];
  const e = emitter();
  e.emit(op.localGet(WIDTH), op.i32Const(3), op.i32Shl, op.localSet(ROW_BYTES));
  e.emit(op.localGet(ROWS), op.localGet(ROW_BYTES), op.i32Mul, op.localGet(X), op.i32Add, op.localSet(ROW_END));
  e.emit(op.localGet(X), op.localSet(ROW));
  e.loopWhileBelow(ROW, ROW_END);
  e.emit(op.i32Const(0), op.localSet(C), op.localGet(W), op.localSet(WROW));
  e.loopWhileBelow(C, OUTPUTS);
  e.emit(op.v128Zero, op.localSet(A0), op.v128Zero, op.localSet(A1), op.i32Const(0), op.localSet(J));
  e.loopWhileBelow(J, ROW_BYTES);
  for (const [acc, offset] of [[A0, 0], [A1, 16]] as const) {
    e.emit(op.localGet(acc), op.localGet(ROW), op.localGet(J), op.i32Add, op.v128Load(offset), op.localGet(WROW), op.localGet(J), op.i32Add, op.v128Load(offset), op.f64x2Mul, op.f64x2Add, op.localSet(acc));
  }
  e.next(J, [op.i32Const(32)]);
  // out = lane 0 + lane 1 of (A0 + A1)
  e.emit(op.localGet(OUT), op.localGet(A0), op.localGet(A1), op.f64x2Add, op.localTee(A0), op.f64x2ExtractLane(0), op.localGet(A0), op.f64x2ExtractLane(1), op.f64Add, op.f64Store(0));
  e.emit(op.localGet(OUT), op.i32Const(8), op.i32Add, op.localSet(OUT));
  e.emit(op.localGet(WROW), op.localGet(ROW_BYTES), op.i32Add, op.localSet(WROW));
  e.next(C, [op.i32Const(1)]);
  e.next(ROW, [op.localGet(ROW_BYTES)]);
  return { name: "scores", params: 6, locals: [{ count: 6, type: I32 }, { count: 2, type: V128 }], body: e.body };
}

/**
 * gradient(x, rows, width, res, outputs, grad): G[c] += Σ_r res[r·outputs + c] · X[r] for the
 * same layout as scores, G (outputs rows of `width` f64) at byte grad.
 */
function gradientFunction(): KernelFunction {
  const [X, ROWS, WIDTH, RES, OUTPUTS, GRAD] = [0, 1, 2, 3, 4, 5];
  const [ROW_BYTES, ROW, ROW_END, C, GROW, J, ADDR] = [6, 7, 8, 9, 10, 11, 12];
  const SPLAT = 13;
  const e = emitter();
  e.emit(op.localGet(WIDTH), op.i32Const(3), op.i32Shl, op.localSet(ROW_BYTES));
  e.emit(op.localGet(ROWS), op.localGet(ROW_BYTES), op.i32Mul, op.localGet(X), op.i32Add, op.localSet(ROW_END));
  e.emit(op.localGet(X), op.localSet(ROW));
  e.loopWhileBelow(ROW, ROW_END);
  e.emit(op.i32Const(0), op.localSet(C), op.localGet(GRAD), op.localSet(GROW));
  e.loopWhileBelow(C, OUTPUTS);
  e.emit(op.localGet(RES), op.f64Splat(0), op.localSet(SPLAT), op.localGet(RES), op.i32Const(8), op.i32Add, op.localSet(RES));
  e.emit(op.i32Const(0), op.localSet(J));
  e.loopWhileBelow(J, ROW_BYTES);
  for (const offset of [0, 16]) {
    e.emit(op.localGet(GROW), op.localGet(J), op.i32Add, op.localTee(ADDR), op.localGet(ADDR), op.v128Load(offset));
    e.emit(op.localGet(SPLAT), op.localGet(ROW), op.localGet(J), op.i32Add, op.v128Load(offset), op.f64x2Mul, op.f64x2Add, op.v128Store(offset));
  }
  e.next(J, [op.i32Const(32)]);
  e.emit(op.localGet(GROW), op.localGet(ROW_BYTES), op.i32Add, op.localSet(GROW));
  e.next(C, [op.i32Const(1)]);
  e.next(ROW, [op.localGet(ROW_BYTES)]);
  return { name: "gradient", params: 6, locals: [{ count: 7, type: I32 }, { count: 1, type: V128 }], body: e.body };
}

export interface LinearProductsKernel {
  scores(x: number, rows: number, width: number, w: number, outputs: number, out: number): void;
  gradient(x: number, rows: number, width: number, res: number, outputs: number, grad: number): void;
  memory: KernelMemory;
}

let factory: (() => LinearProductsKernel) | null | undefined;

/** A fresh kernel (its own memory, to hold one fit's X), or null where WebAssembly SIMD is missing. */
export function linearProductsKernel(): LinearProductsKernel | null {
  if (factory === undefined) factory = kernelFactory<LinearProductsKernel>([scoresFunction(), gradientFunction()]);
  return factory?.() ?? null;
}
