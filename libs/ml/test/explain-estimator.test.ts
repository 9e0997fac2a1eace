import { describe, expect, it } from "vitest";
import { KMeans } from "../src/cluster/index.js";
import { explainEstimator } from "../src/inspection/explain-estimator.js";
import { LinearRegression, LogisticRegression } from "../src/linear/index.js";
import { StandardScaler } from "../src/preprocessing/index.js";
import { Pipeline } from "../src/pipeline.js";
import { GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier } from "../src/ensemble/index.js";

const X = Array.from({ length: 60 }, (_, i) => [Math.sin(i), Math.cos(i * 0.7) * 2, (i % 5) - 2]);
const y = X.map(([a, b, c]) => 3 * a! - b! + 0.5 * c! + 1);

describe("explainEstimator", () => {
  it("gives a fitted linear regression's features each coef · (x − background mean)", async () => {
    const model = new LinearRegression().fit(X, y);
    const background = X.slice(0, 20);
    const mean = [0, 1, 2].map((j) => background.reduce((s, r) => s + r[j]!, 0) / background.length);
    const rows = X.slice(40, 43);
    const { values, base, outputs, method } = await explainEstimator(model, rows, background);
    expect(method).toBe("exact");
    expect(base[0]).toBeCloseTo(model.predict([mean])[0]!, 9);
    rows.forEach((row, i) => {
      row.forEach((x, j) => expect(values[i * 3 + j]).toBeCloseTo(model.coef[j]! * (x - mean[j]!), 9));
      expect(outputs[i]).toBeCloseTo(model.predict([row])[0]!, 9);
    });
  });

  it("explains each class's probability of a classifier, the values of each row adding up to them", async () => {
    const labels = y.map((v) => (v > 1 ? "high" : "low"));
    const model = new LogisticRegression().fit(X, labels);
    const { values, base, outputs } = await explainEstimator(model, X.slice(0, 4), X.slice(10, 40), { method: "permutation", permutations: 5 });
    const proba = model.predictProba(X.slice(0, 4));
    for (let i = 0; i < 4; i++) {
      for (let o = 0; o < 2; o++) {
        expect(outputs[i * 2 + o]).toBeCloseTo(proba.data[i * 2 + o]!, 12);
        let sum = base[o]!;
        for (let j = 0; j < 3; j++) sum += values[(i * 3 + j) * 2 + o]!;
        expect(sum).toBeCloseTo(proba.data[i * 2 + o]!, 9);
      }
    }
  });

  it("explains trees by Tree SHAP: a forest's and a boosted regressor's values are the exact method's on their float32 export", async () => {
    const f32 = (rows: number[][]) => rows.map((r) => r.map(Math.fround));
    const classes = y.map((v) => (v > 2 ? "high" : v > 0 ? "mid" : "low"));
    for (const model of [new RandomForestClassifier({ nEstimators: 10, maxDepth: 4, randomState: 0 }).fit(X, classes), new GradientBoostingRegressor({ maxIter: 20, maxDepth: 3 }).fit(X, y)]) {
      const rows = f32(X.slice(0, 6));
      const background = f32(X.slice(20, 50));
      const tree = await explainEstimator(model, rows, background, { method: "tree" });
      const exact = await explainEstimator(model, rows, background, { method: "exact" });
      expect(tree).toMatchObject({ method: "tree", space: "output", rows: 6, features: 3 });
      expect(tree.values.length).toBe(exact.values.length);
      tree.values.forEach((v, at) => expect(Math.abs(v - exact.values[at]!)).toBeLessThan(1e-6));
      tree.base.forEach((v, at) => expect(Math.abs(v - exact.base[at]!)).toBeLessThan(1e-6));
      expect(tree.values.some((v) => Math.abs(v) > 0.01)).toBe(true);
    }
  });

  it("explains a boosted classifier's margins (log-odds) by Tree SHAP, and refuses models that are no trees", async () => {
    const model = new GradientBoostingClassifier({ maxIter: 15, maxDepth: 3 }).fit(X, y.map((v) => (v > 1 ? 1 : 0)));
    const { values, base, outputs, space } = await explainEstimator(model, X.slice(0, 5), X.slice(10, 40), { method: "tree" });
    expect(space).toBe("margin");
    const proba = model.predictProba(X.slice(0, 5).map((r) => r.map(Math.fround)));
    for (let i = 0; i < 5; i++) {
      expect(1 / (1 + Math.exp(-outputs[i * 2 + 1]!))).toBeCloseTo(proba.data[i * 2 + 1]!, 5);
      expect(outputs[i * 2]).toBeCloseTo(-outputs[i * 2 + 1]!, 12);
      for (let o = 0; o < 2; o++) {
        let sum = base[o]!;
        for (let j = 0; j < 3; j++) sum += values[(i * 3 + j) * 2 + o]!;
        expect(sum).toBeCloseTo(outputs[i * 2 + o]!, 9);
      }
    }
    await expect(explainEstimator(new LinearRegression().fit(X, y), X.slice(0, 2), X, { method: "tree" })).rejects.toMatchObject({ reason: "NOT_A_TREE_ENSEMBLE" });
    const piped = new Pipeline([new StandardScaler(), new GradientBoostingRegressor({ maxIter: 5 })]).fit(X, y);
    await expect(explainEstimator(piped, X.slice(0, 2), X, { method: "tree" })).rejects.toMatchObject({ reason: "NOT_A_TREE_ENSEMBLE", message: expect.stringContaining("on an executor") });
  });

  it("refuses what predicts no quantity, and a background of other features", async () => {
    await expect(explainEstimator(new KMeans({ nClusters: 2, randomState: 0 }).fit(X), X.slice(0, 2), X)).rejects.toMatchObject({ reason: "NOT_EXPLAINABLE" });
    await expect(explainEstimator(new StandardScaler().fit(X), X.slice(0, 2), X)).rejects.toMatchObject({ reason: "NOT_EXPLAINABLE", message: "StandardScaler only transforms: it predicts nothing to explain" });
    await expect(explainEstimator(new LinearRegression().fit(X, y), X.slice(0, 2), X.map((r) => r.slice(0, 2)))).rejects.toMatchObject({ reason: "FEATURE_COUNT" });
  });
});
