/**
 * Just enough of the WebAssembly binary format to write small numeric kernels by hand:
 * one memory, exported functions of i32 parameters, SIMD (v128) locals. No toolchain runs
 * at build or install time; the bytes are made when the module is first used.
 */

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const SIMD = (code: number) => [0xfd, ...uleb(code)];

/** The instructions the kernels use. */
export const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  f64Const0: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  f64Const: (v: number) => [0x44, ...new Uint8Array(Float64Array.of(v).buffer)],
  i32And: [0x71],
  i32ShrU: [0x76],
  i32Load: (offset: number) => [0x28, 0x02, ...uleb(offset)],
  /** if (i32 on the stack ≠ 0) … end, no result. */
  if: [0x04, 0x40],
  f64Load: (offset: number) => [0x2b, 0x03, ...uleb(offset)],
  f64Store: (offset: number) => [0x39, 0x03, ...uleb(offset)],
  f64Add: [0xa0],
  f64Mul: [0xa2],
  f64Sub: [0xa1],
  f64Div: [0xa3],
  f64Max: [0xa5],
  /** v128.load / v128.store at a constant byte offset from the address on the stack (16-byte alignment hint). */
  v128Load: (offset: number) => [...SIMD(0x00), 0x04, ...uleb(offset)],
  v128Store: (offset: number) => [...SIMD(0x0b), 0x04, ...uleb(offset)],
  /** v128.load64_splat: one f64 into both lanes. */
  f64Splat: (offset: number) => [...SIMD(0x0a), 0x03, ...uleb(offset)],
  v128Zero: [...SIMD(0x0c), ...new Array<number>(16).fill(0)],
  /** Both lanes the same f64 constant. */
  f64x2Const: (v: number) => [...SIMD(0x0c), ...new Uint8Array(Float64Array.of(v, v).buffer)],
  /** Both lanes the same i64 constant (as a bigint). */
  i64x2Const: (v: bigint) => [...SIMD(0x0c), ...new Uint8Array(BigInt64Array.of(v, v).buffer)],
  f64x2Splat: SIMD(0x14),
  f64x2Add: SIMD(0xf0),
  f64x2Sub: SIMD(0xf1),
  f64x2Mul: SIMD(0xf2),
  f64x2Max: SIMD(0xf5),
  /** i64x2.shl by the i32 on the stack. */
  i64x2Shl: SIMD(0xcb),
  i64x2Add: SIMD(0xce),
  f64x2ExtractLane: (lane: number) => [...SIMD(0x21), lane],
};

/**
 * A function body being written: emit() appends instructions; loopWhileBelow(i, limit)
 * opens a loop that runs while local i < local limit (unsigned), closed by next(i, step),
 * which adds step (instructions leaving an i32) to i and jumps back; add() is that
 * addition alone.
 */
export function emitter() {
  const body: number[] = [];
  const emit = (...parts: number[][]) => parts.forEach((p) => body.push(...p));
  const add = (local: number, step: number[][]) => emit(op.localGet(local), ...step, op.i32Add, op.localSet(local));
  return {
    body,
    emit,
    add,
    loopWhileBelow: (counter: number, limit: number) => emit(op.block, op.loop, op.localGet(counter), op.localGet(limit), op.i32GeU, op.brIf(1)),
    next: (counter: number, step: number[][]) => {
      add(counter, step);
      emit(op.br(0), op.end, op.end);
    },
  };
}

export interface KernelFunction {
  name: string;
  /** Parameter count (all i32). */
  params: number;
  /** Extra locals by type, in order, after the parameters. */
  locals: { count: number; type: number }[];
  body: number[];
}

/** A module with one memory of `pages` (exported as "memory") and the functions, each exported by name. */
export function assembleModule(pages: number, functions: KernelFunction[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(Array.from({ length: f.params }, () => [I32])), ...vec([])]);
  const code = functions.map((f) => {
    const body = [...vec(f.locals.map((l) => [...uleb(l.count), l.type])), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]), [...name("memory"), 0x02, ...uleb(0)]])),
    ...section(10, vec(code)),
  ]);
}
