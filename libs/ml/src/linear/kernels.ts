/** a[ao..ao+k) · b[bo..bo+k), with four partial sums so the additions do not wait on each other. */
export function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, k: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < k; j += 4) {
    s0 += a[ao + j] * b[bo + j];
    s1 += a[ao + j + 1] * b[bo + j + 1];
    s2 += a[ao + j + 2] * b[bo + j + 2];
    s3 += a[ao + j + 3] * b[bo + j + 3];
  }
  for (; j < k; j++) s0 += a[ao + j] * b[bo + j];
  return s0 + s1 + s2 + s3;
}

/** coef += step · data[o, o + k), four at a time. */
export function addScaled(coef: Float64Array, data: Float64Array, o: number, k: number, step: number): void {
  let j = 0;
  for (; j + 3 < k; j += 4) {
    coef[j] += step * data[o + j];
    coef[j + 1] += step * data[o + j + 1];
    coef[j + 2] += step * data[o + j + 2];
    coef[j + 3] += step * data[o + j + 3];
  }
  for (; j < k; j++) coef[j] += step * data[o + j];
}
