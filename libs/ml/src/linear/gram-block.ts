/**
 * gram[a][b] += (column a) · (column b) of a transposed block T (column j at T[j * stride ..
 * j * stride + len)), for every b ≥ a. Entries are computed in 3 × 3 tiles: six loads feed nine
 * products, where one dot product at a time needs two loads per product, and loads, not
 * arithmetic, bound scalar JavaScript here. Each entry is still one left-to-right sum over
 * the block, so the result is bit for bit that of plain dot products. Tiles on the diagonal
 * also write a few entries below it; the caller mirrors the upper triangle over them.
 */
export function addBlockGram(gram: Float64Array, k: number, T: Float64Array, stride: number, len: number): void {
  let a = 0;
  for (; a + 2 < k; a += 3) {
    let b = a;
    for (; b + 2 < k; b += 3) addTile(gram, k, T, stride, len, a, b);
    for (; b < k; b++) addColumn(gram, k, T, stride, len, a, b);
  }
  for (; a < k; a++) for (let b = a; b < k; b++) gram[a * k + b] += dot(T, a * stride, T, b * stride, len);
}

function addTile(gram: Float64Array, k: number, T: Float64Array, stride: number, len: number, a: number, b: number): void {
  const a0 = a * stride;
  const a1 = a0 + stride;
  const a2 = a1 + stride;
  const b0 = b * stride;
  const b1 = b0 + stride;
  const b2 = b1 + stride;
  let s00 = 0;
  let s01 = 0;
  let s02 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s20 = 0;
  let s21 = 0;
  let s22 = 0;
  for (let i = 0; i < len; i++) {
    const x0 = T[a0 + i];
    const x1 = T[a1 + i];
    const x2 = T[a2 + i];
    const y0 = T[b0 + i];
    s00 += x0 * y0;
    s10 += x1 * y0;
    s20 += x2 * y0;
    const y1 = T[b1 + i];
    s01 += x0 * y1;
    s11 += x1 * y1;
    s21 += x2 * y1;
    const y2 = T[b2 + i];
    s02 += x0 * y2;
    s12 += x1 * y2;
    s22 += x2 * y2;
  }
  const g0 = a * k + b;
  const g1 = g0 + k;
  const g2 = g1 + k;
  gram[g0] += s00;
  gram[g0 + 1] += s01;
  gram[g0 + 2] += s02;
  gram[g1] += s10;
  gram[g1 + 1] += s11;
  gram[g1 + 2] += s12;
  gram[g2] += s20;
  gram[g2 + 1] += s21;
  gram[g2 + 2] += s22;
}

/** Column b against columns a, a + 1, a + 2. */
function addColumn(gram: Float64Array, k: number, T: Float64Array, stride: number, len: number, a: number, b: number): void {
  const a0 = a * stride;
  const a1 = a0 + stride;
  const a2 = a1 + stride;
  const bo = b * stride;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < len; i++) {
    const y = T[bo + i];
    s0 += T[a0 + i] * y;
    s1 += T[a1 + i] * y;
    s2 += T[a2 + i] * y;
  }
  gram[a * k + b] += s0;
  gram[(a + 1) * k + b] += s1;
  gram[(a + 2) * k + b] += s2;
}

export function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += x[xo + i] * y[yo + i];
  return s;
}
