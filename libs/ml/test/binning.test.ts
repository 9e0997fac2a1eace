import { describe, expect, it } from "vitest";
import { binFeatures, sortFloat32 } from "../src/tree/binning.js";
import { Random } from "../src/random.js";

describe("binning", () => {
  it("sorts float32 values by their bits as TypedArray sort does (negatives, ±0, infinities, subnormals, ties)", () => {
    const random = new Random(5);
    const special = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, -1, 1, -1];
    for (const n of [0, 1, 2, 255, 256, 5_000]) {
      const values = Float32Array.from({ length: n }, (_, i) => (i < special.length ? special[i]! : (random.next() - 0.5) * 10 ** Math.floor(random.next() * 12 - 6)));
      const expected = values.slice().sort();
      sortFloat32(values, new Uint32Array(n));
      expect(Array.from(values, (v) => Object.is(v, -0) ? "-0" : v)).toEqual(Array.from(expected, (v) => Object.is(v, -0) ? "-0" : v));
    }
  });

  it("puts every value in the bin its edges say: edges[b − 1] < v ≤ edges[b]", () => {
    const random = new Random(9);
    const rows = 3_000;
    const data = Float64Array.from({ length: rows * 3 }, (_, i) => (i % 3 === 0 ? Math.floor(random.next() * 40) - 20 : random.normal() * 100));
    const binned = binFeatures({ data, rows, cols: 3 }, 256, 0);
    for (let f = 0; f < 3; f++) {
      const e = binned.edges[f]!;
      expect(e.length).toBeLessThanOrEqual(255);
      for (let i = 0; i < rows; i++) {
        const v = Math.fround(data[i * 3 + f]!);
        const b = binned.bins[i * 3 + f]!;
        if (b > 0) expect(v).toBeGreaterThan(e[b - 1]!);
        if (b < e.length) expect(v).toBeLessThanOrEqual(e[b]!);
        expect(binned.lowest[f]![b]).toBeLessThanOrEqual(v);
        expect(binned.highest[f]![b]).toBeGreaterThanOrEqual(v);
      }
    }
    expect(binned.edges[0]!.length).toBe(39); // 40 distinct integers: exact bins
  });
});
