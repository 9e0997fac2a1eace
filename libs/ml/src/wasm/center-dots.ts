import { emitter, op, F64, I32, V128, type KernelFunction } from "./assemble.js";
import { instantiateKernel, type KernelMemory } from "./kernel-instance.js";

/**
 * dots(x, rows, d, centers, groups, out, norms): for each of `rows` rows of d f64 at byte
 * x (row-major), its squared norm into norms (f64 each) and its dot products with the
 * centres into out (groups · 8 f64 a row). The centres are in groups of eight,
 * feature-major (group g, feature t, centre i at f64 (g·d + t)·8 + i, zeros past the last
 * centre): per feature one value of the row is splat into both lanes and multiplied with
 * four f64x2 loads, so the eight sums stay in four registers.
 */
function dotsFunction(): KernelFunction {
  const [X, ROWS, D, CENTERS, GROUPS, OUT, NORMS] = [0, 1, 2, 3, 4, 5, 6];
  const [ROW_BYTES, ROW_END, ROW, END, AT, CENTER, G] = [7, 8, 9, 10, 11, 12, 13];
  const NORM = 14;
  const [S0, S1, S2, S3, SPLAT] = [15, 16, 17, 18, 19];
  const { body, emit, add, loopWhileBelow, next } = emitter();

  emit(op.localGet(D), op.i32Const(3), op.i32Shl, op.localSet(ROW_BYTES));
  emit(op.localGet(ROWS), op.localGet(ROW_BYTES), op.i32Mul, op.localGet(X), op.i32Add, op.localSet(ROW_END));
  emit(op.localGet(X), op.localSet(ROW));
  loopWhileBelow(ROW, ROW_END);
  emit(op.localGet(ROW), op.localGet(ROW_BYTES), op.i32Add, op.localSet(END));
  // The row's squared norm.
  emit(op.f64Const0, op.localSet(NORM), op.localGet(ROW), op.localSet(AT));
  loopWhileBelow(AT, END);
  emit(op.localGet(NORM), op.localGet(AT), op.f64Load(0), op.localGet(AT), op.f64Load(0), op.f64Mul, op.f64Add, op.localSet(NORM));
  next(AT, [op.i32Const(8)]);
  emit(op.localGet(NORMS), op.localGet(NORM), op.f64Store(0));
  add(NORMS, [op.i32Const(8)]);
  // Its dot products, eight centres at a time.
  emit(op.localGet(CENTERS), op.localSet(CENTER), op.i32Const(0), op.localSet(G));
  loopWhileBelow(G, GROUPS);
  for (const s of [S0, S1, S2, S3]) emit(op.v128Zero, op.localSet(s));
  emit(op.localGet(ROW), op.localSet(AT));
  loopWhileBelow(AT, END);
  emit(op.localGet(AT), op.f64Splat(0), op.localSet(SPLAT));
  [S0, S1, S2, S3].forEach((s, i) => emit(op.localGet(s), op.localGet(SPLAT), op.localGet(CENTER), op.v128Load(16 * i), op.f64x2Mul, op.f64x2Add, op.localSet(s)));
  add(CENTER, [op.i32Const(64)]);
  next(AT, [op.i32Const(8)]);
  [S0, S1, S2, S3].forEach((s, i) => emit(op.localGet(OUT), op.localGet(s), op.v128Store(16 * i)));
  add(OUT, [op.i32Const(64)]);
  next(G, [op.i32Const(1)]);
  next(ROW, [op.localGet(ROW_BYTES)]);
  return { name: "dots", params: 7, locals: [{ count: 7, type: I32 }, { count: 1, type: F64 }, { count: 5, type: V128 }], body };
}

export interface CenterDotsKernel {
  dots(x: number, rows: number, d: number, centers: number, groups: number, out: number, norms: number): void;
  memory: KernelMemory;
}

let kernel: CenterDotsKernel | null | undefined;

/** The SIMD kernel, or null where WebAssembly SIMD is missing (callers then compute in JavaScript). */
export function centerDotsKernel(): CenterDotsKernel | null {
  if (kernel === undefined) kernel = instantiateKernel<CenterDotsKernel>([dotsFunction()]);
  return kernel;
}
