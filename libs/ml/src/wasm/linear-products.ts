import { emitter, op, F64, I32, V128, type KernelFunction } from "./assemble.js";
import { expF64x2 } from "./exp.js";
import { kernelFactory, type KernelMemory } from "./kernel-instance.js";

/*
 * Both products work on tiles of eight independent f64x2 sums: with one sum per register
 * each step waited on the previous addition's latency (three cycles here), and the
 * gradient loaded and stored its sums at every row. X is `width` f64 a row (a multiple of
 * 8, zero-padded) in groups of four rows; W, the gradient and the scores/residuals come in
 * pairs of outputs (a zero row pads an odd count).
 */

/**
 * scores(x, quads, width, w, pairs, out): out[r·2·pairs + c] = X[r] · W[c] for 4·quads rows
 * of X at byte x and 2·pairs rows of W at byte w; a tile is four rows by two outputs.
 */
function scoresFunction(): KernelFunction {
  const [X, QUADS, WIDTH, W, PAIRS, OUT] = [0, 1, 2, 3, 4, 5];
  const [RB, ORB, END, ROW, C, W0ROW, W1ROW, J, P, OC] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const A = [16, 17, 18, 19, 20, 21, 22, 23]; // A[2i + o]: row i, output o
  const XS = [24, 25, 26, 27];
  const [WA, WB] = [28, 29];
  const { body, emit, add, loopWhileBelow, next } = emitter();
  emit(op.localGet(WIDTH), op.i32Const(3), op.i32Shl, op.localSet(RB));
  emit(op.localGet(PAIRS), op.i32Const(4), op.i32Shl, op.localSet(ORB));
  emit(op.localGet(QUADS), op.localGet(RB), op.i32Const(2), op.i32Shl, op.i32Mul, op.localGet(X), op.i32Add, op.localSet(END));
  emit(op.localGet(X), op.localSet(ROW));
  loopWhileBelow(ROW, END);
  emit(op.localGet(W), op.localSet(W0ROW), op.localGet(OUT), op.localSet(OC), op.i32Const(0), op.localSet(C));
  loopWhileBelow(C, PAIRS);
  emit(op.localGet(W0ROW), op.localGet(RB), op.i32Add, op.localSet(W1ROW));
  for (const a of A) emit(op.v128Zero, op.localSet(a));
  emit(op.i32Const(0), op.localSet(J));
  loopWhileBelow(J, RB);
  emit(op.localGet(ROW), op.localGet(J), op.i32Add, op.localSet(P));
  XS.forEach((x, i) => {
    if (i > 0) add(P, [op.localGet(RB)]);
    emit(op.localGet(P), op.v128Load(0), op.localSet(x));
  });
  emit(op.localGet(W0ROW), op.localGet(J), op.i32Add, op.v128Load(0), op.localSet(WA));
  emit(op.localGet(W1ROW), op.localGet(J), op.i32Add, op.v128Load(0), op.localSet(WB));
  XS.forEach((x, i) =>
    [WA, WB].forEach((w, o) => emit(op.localGet(A[2 * i + o]), op.localGet(x), op.localGet(w), op.f64x2Mul, op.f64x2Add, op.localSet(A[2 * i + o]))),
  );
  next(J, [op.i32Const(16)]);
  // out[row i, output o] = lane 0 + lane 1 of A[2i + o]
  emit(op.localGet(OC), op.localSet(P));
  XS.forEach((_, i) => {
    if (i > 0) add(P, [op.localGet(ORB)]);
    for (const o of [0, 1]) emit(op.localGet(P), op.localGet(A[2 * i + o]), op.f64x2ExtractLane(0), op.localGet(A[2 * i + o]), op.f64x2ExtractLane(1), op.f64Add, op.f64Store(8 * o));
  });
  add(OC, [op.i32Const(16)]);
  add(W0ROW, [op.localGet(RB), op.localGet(RB), op.i32Add]);
  next(C, [op.i32Const(1)]);
  add(OUT, [op.localGet(ORB), op.i32Const(2), op.i32Shl]);
  next(ROW, [op.localGet(RB), op.i32Const(2), op.i32Shl]);
  return { name: "scores", params: 6, locals: [{ count: 10, type: I32 }, { count: 14, type: V128 }], body };
}

/**
 * gradient(x, quads, width, res, pairs, grad): G[c] += Σ_r res[r·2·pairs + c] · X[r] over the
 * 4·quads rows, G (2·pairs rows of `width` f64) at byte grad; a tile is two outputs by eight
 * columns.
 */
function gradientFunction(): KernelFunction {
  const [X, QUADS, WIDTH, RES, PAIRS, GRAD] = [0, 1, 2, 3, 4, 5];
  const [RB, RRB, SPAN, C, G0ROW, G1ROW, J, P, END, R] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const V = 4; // f64x2 columns a tile
  const A = Array.from({ length: 2 * V }, (_, i) => 16 + i); // A[o·V + b]: output o, columns 2b..2b+1
  const XS = Array.from({ length: V }, (_, i) => 16 + 2 * V + i);
  const [S0, S1] = [16 + 3 * V, 17 + 3 * V];
  const { body, emit, add, loopWhileBelow, next } = emitter();
  emit(op.localGet(WIDTH), op.i32Const(3), op.i32Shl, op.localSet(RB));
  emit(op.localGet(PAIRS), op.i32Const(4), op.i32Shl, op.localSet(RRB));
  emit(op.localGet(QUADS), op.localGet(RB), op.i32Const(2), op.i32Shl, op.i32Mul, op.localSet(SPAN));
  emit(op.localGet(GRAD), op.localSet(G0ROW), op.i32Const(0), op.localSet(C));
  loopWhileBelow(C, PAIRS);
  emit(op.localGet(G0ROW), op.localGet(RB), op.i32Add, op.localSet(G1ROW), op.i32Const(0), op.localSet(J));
  loopWhileBelow(J, RB);
  for (const a of A) emit(op.v128Zero, op.localSet(a));
  emit(op.localGet(X), op.localGet(J), op.i32Add, op.localTee(P), op.localGet(SPAN), op.i32Add, op.localSet(END), op.localGet(RES), op.localSet(R));
  loopWhileBelow(P, END);
  XS.forEach((x, b) => emit(op.localGet(P), op.v128Load(16 * b), op.localSet(x)));
  emit(op.localGet(R), op.f64Splat(0), op.localSet(S0), op.localGet(R), op.f64Splat(8), op.localSet(S1));
  [S0, S1].forEach((s, o) =>
    XS.forEach((x, b) => {
      const a = A[o * V + b];
      emit(op.localGet(a), op.localGet(x), op.localGet(s), op.f64x2Mul, op.f64x2Add, op.localSet(a));
    }),
  );
  add(R, [op.localGet(RRB)]);
  next(P, [op.localGet(RB)]);
  [G0ROW, G1ROW].forEach((g, o) =>
    XS.forEach((_, b) => {
      emit(op.localGet(g), op.localGet(J), op.i32Add, op.localTee(P), op.localGet(P), op.v128Load(16 * b));
      emit(op.localGet(A[o * V + b]), op.f64x2Add, op.v128Store(16 * b));
    }),
  );
  next(J, [op.i32Const(16 * V)]);
  add(RES, [op.i32Const(16)]);
  add(G0ROW, [op.localGet(RB), op.localGet(RB), op.i32Add]);
  next(C, [op.i32Const(1)]);
  return { name: "gradient", params: 6, locals: [{ count: 10, type: I32 }, { count: 3 * V + 2, type: V128 }], body };
}

/**
 * softmax(scores, rows, pairs, outputs, labels, out): turns each row's scores (2·pairs f64
 * a row, the first `outputs` real) into softmax(z) − onehot(label), with the label an i32 a
 * row at byte labels and a padding output's residual zero; writes max(z) − z_label and
 * Σ e^(z − max) for the row's loss (max − z_label + log Σ) as two f64 a row at byte out.
 */
function softmaxFunction(): KernelFunction {
  const [SCORES, ROWS, PAIRS, OUTPUTS, LABELS, OUT] = [0, 1, 2, 3, 4, 5];
  const [RB, END, ROW, P, REAL_END, PAIRED_END, LABEL, ODD] = [6, 7, 8, 9, 10, 11, 12, 13];
  const [MAX, SUM] = [14, 15];
  const [V, N, R, SV, SCALE] = [16, 17, 18, 19, 20];
  const { body, emit, add, loopWhileBelow, next } = emitter();
  const expInPlace = (onEach: number[][]) => {
    emit(op.localGet(P), op.v128Load(0), op.localGet(MAX), op.f64x2Splat, op.f64x2Sub, op.localSet(V));
    emit(...expF64x2(V, N, R), op.localSet(V), op.localGet(P), op.localGet(V), op.v128Store(0), ...onEach);
  };
  emit(op.localGet(PAIRS), op.i32Const(4), op.i32Shl, op.localSet(RB));
  emit(op.localGet(OUTPUTS), op.i32Const(1), op.i32And, op.localSet(ODD));
  emit(op.localGet(ROWS), op.localGet(RB), op.i32Mul, op.localGet(SCORES), op.i32Add, op.localSet(END));
  emit(op.localGet(SCORES), op.localSet(ROW));
  loopWhileBelow(ROW, END);
  // max over the real outputs
  emit(op.localGet(ROW), op.f64Load(0), op.localSet(MAX), op.localGet(ROW), op.i32Const(8), op.i32Add, op.localSet(P));
  emit(op.localGet(OUTPUTS), op.i32Const(3), op.i32Shl, op.localGet(ROW), op.i32Add, op.localSet(REAL_END));
  loopWhileBelow(P, REAL_END);
  emit(op.localGet(MAX), op.localGet(P), op.f64Load(0), op.f64Max, op.localSet(MAX));
  next(P, [op.i32Const(8)]);
  emit(op.localGet(LABELS), op.i32Load(0), op.i32Const(3), op.i32Shl, op.localGet(ROW), op.i32Add, op.localSet(LABEL));
  add(LABELS, [op.i32Const(4)]);
  emit(op.localGet(OUT), op.localGet(MAX), op.localGet(LABEL), op.f64Load(0), op.f64Sub, op.f64Store(0));
  // e^(z − max) in place, summed; the last pair's second lane is padding when outputs are odd
  emit(op.v128Zero, op.localSet(SV), op.localGet(ROW), op.localSet(P));
  emit(op.localGet(OUTPUTS), op.i32Const(1), op.i32ShrU, op.i32Const(4), op.i32Shl, op.localGet(ROW), op.i32Add, op.localSet(PAIRED_END));
  loopWhileBelow(P, PAIRED_END);
  expInPlace([op.localGet(SV), op.localGet(V), op.f64x2Add, op.localSet(SV)]);
  next(P, [op.i32Const(16)]);
  emit(op.localGet(SV), op.f64x2ExtractLane(0), op.localGet(SV), op.f64x2ExtractLane(1), op.f64Add, op.localSet(SUM));
  emit(op.localGet(ODD), op.if);
  expInPlace([op.localGet(SUM), op.localGet(V), op.f64x2ExtractLane(0), op.f64Add, op.localSet(SUM)]);
  emit(op.end);
  emit(op.localGet(OUT), op.localGet(SUM), op.f64Store(8));
  add(OUT, [op.i32Const(16)]);
  // ÷ Σ, − 1 at the label, 0 for the padding output
  emit(op.f64Const(1), op.localGet(SUM), op.f64Div, op.f64x2Splat, op.localSet(SCALE), op.localGet(ROW), op.localSet(P));
  emit(op.localGet(ROW), op.localGet(RB), op.i32Add, op.localSet(PAIRED_END));
  loopWhileBelow(P, PAIRED_END);
  emit(op.localGet(P), op.localGet(P), op.v128Load(0), op.localGet(SCALE), op.f64x2Mul, op.v128Store(0));
  next(P, [op.i32Const(16)]);
  emit(op.localGet(LABEL), op.localGet(LABEL), op.f64Load(0), op.f64Const(1), op.f64Sub, op.f64Store(0));
  emit(op.localGet(ODD), op.if, op.localGet(REAL_END), op.f64Const0, op.f64Store(0), op.end);
  next(ROW, [op.localGet(RB)]);
  return { name: "softmax", params: 6, locals: [{ count: 8, type: I32 }, { count: 2, type: F64 }, { count: 5, type: V128 }], body };
}

export interface LinearProductsKernel {
  scores(x: number, quads: number, width: number, w: number, pairs: number, out: number): void;
  gradient(x: number, quads: number, width: number, res: number, pairs: number, grad: number): void;
  softmax(scores: number, rows: number, pairs: number, outputs: number, labels: number, out: number): void;
  memory: KernelMemory;
}

let factory: (() => LinearProductsKernel) | null | undefined;

/** A fresh kernel (its own memory, to hold one fit's X), or null where WebAssembly SIMD is missing. */
export function linearProductsKernel(): LinearProductsKernel | null {
  if (factory === undefined) factory = kernelFactory<LinearProductsKernel>([scoresFunction(), gradientFunction(), softmaxFunction()]);
  return factory?.() ?? null;
}
