import { afterAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { KMeans, MiniBatchKMeans } from "../src/cluster/index.js";
import { Random } from "../src/random.js";
import { loadModel } from "../src/serialize.js";
import { describeBadInput } from "./helpers/trees-bad-input.js";
import { blobs, iris, take } from "./helpers/trees-data.js";
import { expectClustererOnnxMatches, expectRoundTrip } from "./helpers/trees-onnx.js";

/** Share of rows whose cluster's majority true label is their own. */
function purity(labels: Int32Array, truth: number[], k: number): number {
  const counts = new Map<string, number>();
  labels.forEach((l, i) => counts.set(`${l}/${truth[i]}`, (counts.get(`${l}/${truth[i]}`) ?? 0) + 1));
  let right = 0;
  for (let c = 0; c < k; c++) right += Math.max(0, ...[...counts].filter(([key]) => key.startsWith(`${c}/`)).map(([, n]) => n));
  return right / labels.length;
}

describe("KMeans", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("finds well-separated blobs: the true groups, with centres at their means", () => {
    const data = blobs(2500, 5, 2, 1, 10, 8);
    const model = new KMeans({ nClusters: 5, randomState: 0 }).fit(data.X);
    const labels = model.predict(data.X);
    expect(purity(labels, data.y, 5)).toBe(1);
    const found = model.clusterCenters;
    for (let c = 0; c < 5; c++) {
      const members = data.y.flatMap((t, i) => (labels[i] === c ? [i] : []));
      for (let j = 0; j < 2; j++) {
        const mean = members.reduce((s, i) => s + data.X.data[2 * i + j], 0) / members.length;
        expect(found.data[2 * c + j]).toBeCloseTo(mean, 9);
      }
    }
  });

  it("reaches sklearn's inertia on iris with k = 3 (78.85) and reports each run through onEpoch", () => {
    const runs: number[] = [];
    const model = new KMeans({ nClusters: 3, nInit: 10, randomState: 0, onEpoch: (e) => runs.push(e.loss!) }).fit(iris().X);
    expect(model.inertia).toBeCloseTo(78.85, 1);
    expect(runs).toHaveLength(10);
    expect(model.inertia).toBe(Math.min(...runs));
  });

  it("transform gives distances, predict the nearest, score minus the inertia", () => {
    const { X } = blobs(300, 3, 4, 2);
    const model = new KMeans({ nClusters: 3, randomState: 1 }).fit(X);
    const d = model.transform(X);
    const labels = model.predict(X);
    let inertia = 0;
    for (let r = 0; r < X.rows; r++) {
      const row = Array.from(d.data.subarray(3 * r, 3 * r + 3));
      expect(labels[r]).toBe(row.indexOf(Math.min(...row)));
      inertia += row[labels[r]] ** 2;
    }
    expect(model.score(X)).toBeCloseTo(-inertia, 6);
    expect(model.inertia).toBeCloseTo(inertia, 6);
    expect(Array.from(new KMeans({ nClusters: 3, randomState: 1 }).fitPredict(X))).toEqual(Array.from(labels));
  });

  it("assigns every row its nearest centre, whatever the number of centres (the distance kernel takes them eight at a time)", () => {
    const random = new Random(7);
    const X = { data: Float64Array.from({ length: 2000 * 13 }, () => random.normal()), rows: 2000, cols: 13 };
    for (const k of [3, 8, 11, 17]) {
      const model = new KMeans({ nClusters: k, randomState: 0 });
      expect(Array.from(model.fitPredict(X))).toEqual(Array.from(model.predict(X)));
    }
  });

  it("on an input big enough for worker threads, gives the same nearest centres and the same model twice", () => {
    const random = new Random(11);
    const X = { data: Float64Array.from({ length: 40_000 * 20 }, () => random.normal()), rows: 40_000, cols: 20 };
    const first = new KMeans({ nClusters: 8, randomState: 3 });
    expect(Array.from(first.fitPredict(X))).toEqual(Array.from(first.predict(X)));
    const second = new KMeans({ nClusters: 8, randomState: 3 }).fit(X);
    expect(JSON.stringify(second.toJSON())).toBe(JSON.stringify(first.toJSON()));
  });

  it("init \"random\" with several runs also converges", () => {
    const data = blobs(1000, 4, 3, 3, 10, 8);
    const model = new KMeans({ nClusters: 4, init: "random", randomState: 2 }).fit(data.X);
    expect(purity(model.predict(data.X), data.y, 4)).toBe(1);
  });

  it("exports to ONNX: label (int64) and scores (distances) match predict and transform for 2 and 12 clusters, 1 row and 10,000 rows", async () => {
    for (const k of [2, 12]) {
      const data = blobs(10_000, k, 6, 4 + k);
      const model = new KMeans({ nClusters: k, randomState: 0 }).fit(take(data, Int32Array.from({ length: 3000 }, (_, i) => i)).X);
      await expectClustererOnnxMatches(pool, model, data.X);
      await expectClustererOnnxMatches(pool, model, { data: data.X.data.slice(0, 6), rows: 1, cols: 6 });
    }
  });

  it("round-trips through JSON and is deterministic for a randomState", () => {
    const { X } = iris();
    const model = new KMeans({ nClusters: 3, randomState: 5 }).fit(X);
    expectRoundTrip(model, X);
    expect(JSON.stringify(new KMeans({ nClusters: 3, randomState: 5 }).fit(X).toJSON())).toBe(JSON.stringify(model.toJSON()));
  });
});

describe("MiniBatchKMeans", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("fit comes within 2% of KMeans' inertia on blobs", () => {
    const { X } = blobs(20_000, 6, 5, 6, 10, 8);
    const full = new KMeans({ nClusters: 6, nInit: 5, randomState: 0 }).fit(X);
    const mini = new MiniBatchKMeans({ nClusters: 6, randomState: 0 }).fit(X);
    expect(mini.inertia).toBeLessThan(full.inertia * 1.02);
  });

  it("partialFit over batches comes within 2% of fit's inertia", () => {
    const { X } = blobs(20_000, 6, 5, 7, 10, 8);
    const fitted = new MiniBatchKMeans({ nClusters: 6, randomState: 0 }).fit(X);
    const online = new MiniBatchKMeans({ nClusters: 6, randomState: 0 });
    for (let pass = 0; pass < 2; pass++) {
      for (let start = 0; start < X.rows; start += 1000) {
        online.partialFit({ data: X.data.subarray(start * 5, (start + 1000) * 5), shape: [1000, 5] });
      }
    }
    expect(online.score(X)).toBeGreaterThan(fitted.score(X) * 1.02); // scores are minus the inertia
  });

  it("a stored model goes on learning: partialFit after loadModel equals partialFit on the original", () => {
    const { X } = blobs(3000, 4, 3, 8);
    const batch = (i: number) => ({ data: X.data.subarray(i * 500 * 3, (i + 1) * 500 * 3), shape: [500, 3] as const });
    const model = new MiniBatchKMeans({ nClusters: 4, randomState: 1 }).partialFit(batch(0)).partialFit(batch(1));
    const loaded = loadModel(JSON.stringify(model.toJSON())) as MiniBatchKMeans;
    model.partialFit(batch(2));
    loaded.partialFit(batch(2));
    expect(Array.from(loaded.clusterCenters.data)).toEqual(Array.from(model.clusterCenters.data));
  });

  it("exports to ONNX matching predict and transform, and round-trips through JSON", async () => {
    const data = blobs(10_000, 5, 4, 9);
    const model = new MiniBatchKMeans({ nClusters: 5, batchSize: 256, randomState: 0 }).fit(data.X);
    await expectClustererOnnxMatches(pool, model, data.X);
    await expectClustererOnnxMatches(pool, model, { data: data.X.data.slice(0, 4), rows: 1, cols: 4 });
    expectRoundTrip(model, data.X);
  });

  it("stops when the smoothed batch inertia no longer improves, and says after how many steps, leaving X as it was", () => {
    const { X } = blobs(20_000, 6, 5, 11, 10, 8);
    const before = X.data.slice();
    const epochs: number[] = [];
    const model = new MiniBatchKMeans({ nClusters: 6, batchSize: 500, randomState: 0, onEpoch: (p) => epochs.push(p.epoch) }).fit(X);
    const state = model.toJSON().state as { steps: number; nIter: number };
    expect(state.steps).toBeGreaterThan(10);
    expect(state.steps).toBeLessThan(100 * 40); // maxIter epochs of 40 steps
    expect(state.nIter).toBe(Math.ceil(state.steps / 40));
    expect(epochs).toEqual(Array.from({ length: Math.floor(state.steps / 40) }, (_, i) => i + 1));
    expect(X.data).toEqual(before);
  });

  it("is deterministic for a randomState", () => {
    const { X } = blobs(2000, 4, 3, 10);
    const json = () => JSON.stringify(new MiniBatchKMeans({ nClusters: 4, batchSize: 100, randomState: 3 }).fit(X).toJSON());
    expect(json()).toBe(json());
  });
});

describeBadInput("KMeans", () => new KMeans({ nClusters: 2, randomState: 0 }), "none");
describeBadInput("MiniBatchKMeans", () => new MiniBatchKMeans({ nClusters: 2, randomState: 0 }), "none");
