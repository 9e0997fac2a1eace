import { emitter, op, I32, V128, type KernelFunction } from "./assemble.js";
import { instantiateKernel, type KernelMemory } from "./kernel-instance.js";

/**
 * gram(x, rows, width, g): G += Bᵀ·B for the block B of `rows` rows at byte x, row-major,
 * `width` f64 a row (a multiple of 4), into G (width × width f64, row-major) at byte g.
 * Tiles of 4 × 4 entries on and above the diagonal: per row, one f64 of the tile's rows is
 * splat into both lanes and multiplied with two f64x2 loads of its columns, so eight vector
 * sums and three loaded vectors stay in registers while the rows go by. Entries below the
 * diagonal inside diagonal tiles are summed too; callers read the upper triangle.
 */
function gramFunction(): KernelFunction {
  const [X, ROWS, WIDTH, G, ROW_BYTES, END, A, B, AT, ADDR] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const sum = (i: number, half: number) => 10 + i * 2 + half;
  const [COLS0, COLS1, SPLAT] = [18, 19, 20];
  const { body, emit, loopWhileBelow, next } = emitter();

  emit(op.localGet(WIDTH), op.i32Const(3), op.i32Shl, op.localSet(ROW_BYTES));
  emit(op.localGet(ROWS), op.localGet(ROW_BYTES), op.i32Mul, op.localGet(X), op.i32Add, op.localSet(END));
  emit(op.i32Const(0), op.localSet(A));
  loopWhileBelow(A, ROW_BYTES);
  emit(op.localGet(A), op.localSet(B));
  loopWhileBelow(B, ROW_BYTES);
  for (let k = 0; k < 8; k++) emit(op.v128Zero, op.localSet(10 + k));
  emit(op.localGet(X), op.localSet(AT));
  loopWhileBelow(AT, END);
  emit(op.localGet(AT), op.localGet(B), op.i32Add, op.localTee(ADDR), op.v128Load(0), op.localSet(COLS0), op.localGet(ADDR), op.v128Load(16), op.localSet(COLS1));
  emit(op.localGet(AT), op.localGet(A), op.i32Add, op.localSet(ADDR));
  for (let i = 0; i < 4; i++) {
    emit(op.localGet(ADDR), op.f64Splat(8 * i), op.localSet(SPLAT));
    emit(op.localGet(sum(i, 0)), op.localGet(SPLAT), op.localGet(COLS0), op.f64x2Mul, op.f64x2Add, op.localSet(sum(i, 0)));
    emit(op.localGet(sum(i, 1)), op.localGet(SPLAT), op.localGet(COLS1), op.f64x2Mul, op.f64x2Add, op.localSet(sum(i, 1)));
  }
  next(AT, [op.localGet(ROW_BYTES)]);
  // G[a + i][b .. b + 4) += the tile's sums; G's row a starts at g + a · width · 8 (a here counts bytes, so a · width).
  emit(op.localGet(G), op.localGet(A), op.localGet(WIDTH), op.i32Mul, op.i32Add, op.localGet(B), op.i32Add, op.localSet(ADDR));
  for (let i = 0; i < 4; i++) {
    for (let half = 0; half < 2; half++) {
      emit(op.localGet(ADDR), op.localGet(ADDR), op.v128Load(half * 16), op.localGet(sum(i, half)), op.f64x2Add, op.v128Store(half * 16));
    }
    emit(op.localGet(ADDR), op.localGet(ROW_BYTES), op.i32Add, op.localSet(ADDR));
  }
  next(B, [op.i32Const(32)]);
  next(A, [op.i32Const(32)]);
  return { name: "gram", params: 4, locals: [{ count: 6, type: I32 }, { count: 11, type: V128 }], body };
}

export interface GramKernel {
  gram(x: number, rows: number, width: number, g: number): void;
  memory: KernelMemory;
}

let kernel: GramKernel | null | undefined;

/** The SIMD kernel, or null where WebAssembly SIMD is missing (callers then compute in JavaScript). */
export function gramKernel(): GramKernel | null {
  if (kernel === undefined) kernel = instantiateKernel<GramKernel>([gramFunction()]);
  return kernel;
}
