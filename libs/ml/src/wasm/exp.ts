import { op } from "./assemble.js";

const LOG2E = Math.LOG2E;
/** 1.5 · 2^52: added to a value of magnitude < 2^51, it leaves that value rounded to an integer in the low mantissa bits. */
const ROUNDER = 6755399441055744;
// ln 2 split so that n · LN2_HI is exact for the n used here (fdlibm's constants).
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
/** Below this exp(x) is under 2^-1021 and taken as exp(-708) (≈ 3e-308), which keeps 2^n a normal number. */
const LOWEST = -708;
/** Taylor terms 1/k! up to k = 13: on |r| ≤ ln2/2 the remainder is under 5e-18, far below an ulp. */
const TERMS = Array.from({ length: 14 }, (_, k) => 1 / Array.from({ length: k }, (_, i) => i + 1).reduce((a, b) => a * b, 1));

/**
 * Instructions for e^x in both lanes of an f64x2, for x ≤ 0 (softmax shifts its scores by
 * their maximum): x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial, 2^n made
 * from n's bits. Within 2 ulp of Math.exp. Reads (and overwrites) local `x`, uses locals
 * `n` and `r` (all v128), leaves e^x on the stack.
 */
export function expF64x2(x: number, n: number, r: number): number[][] {
  const code: number[][] = [];
  const emit = (...parts: number[][]) => code.push(...parts);
  emit(op.localGet(x), op.f64x2Const(LOWEST), op.f64x2Max, op.localTee(r));
  // n = round(x · log2 e), kept in the low bits of `n` with ROUNDER added
  emit(op.f64x2Const(LOG2E), op.f64x2Mul, op.f64x2Const(ROUNDER), op.f64x2Add, op.localSet(n));
  // r = x − (n − ROUNDER) · ln 2, in two parts
  emit(op.localGet(n), op.f64x2Const(ROUNDER), op.f64x2Sub, op.localSet(x));
  emit(op.localGet(r), op.localGet(x), op.f64x2Const(LN2_HI), op.f64x2Mul, op.f64x2Sub, op.localGet(x), op.f64x2Const(LN2_LO), op.f64x2Mul, op.f64x2Sub, op.localSet(r));
  // Σ r^k / k!, Horner from the highest term
  emit(op.f64x2Const(TERMS[TERMS.length - 1]));
  for (let k = TERMS.length - 2; k >= 0; k--) emit(op.localGet(r), op.f64x2Mul, op.f64x2Const(TERMS[k]), op.f64x2Add);
  // · 2^n: n's low 12 bits shifted into the exponent field, plus the bias 1023 (n ≥ −1022 here)
  emit(op.localGet(n), op.i32Const(52), op.i64x2Shl, op.i64x2Const(1023n << 52n), op.i64x2Add, op.f64x2Mul);
  return code;
}
