import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError, MLError, Pipeline, Ridge, StandardScaler, TrainingPool, createEstimator, estimatorKinds, isEstimatorKind, loadModel, type Regressor } from "../src/index.js";

/** y = 3·x0 − 2·x1 + 1, exactly. */
function line(rows: number) {
  const X = Array.from({ length: rows }, (_, i) => [i % 17, (i * 7) % 13]);
  return { X, y: X.map(([a, b]) => 3 * a - 2 * b + 1) };
}

describe("training on worker threads", () => {
  const pool = new TrainingPool({ size: 2 });
  afterAll(async () => {
    await pool.close();
  });

  it("knows every estimator by name", () => {
    for (const kind of ["LinearRegression", "Ridge", "Lasso", "LogisticRegression", "SGDClassifier", "SGDRegressor", "DecisionTreeClassifier", "RandomForestRegressor", "GradientBoostingClassifier", "KMeans", "MiniBatchKMeans", "PCA", "StandardScaler", "MinMaxScaler", "OneHotEncoder", "SimpleImputer", "MLPClassifier", "MLPRegressor"]) {
      expect(estimatorKinds()).toContain(kind);
    }
    expect(() => createEstimator("NoSuchModel")).toThrow(/unknown estimator/);
    expect([isEstimatorKind("logistic_regression"), isEstimatorKind("LogisticRegression"), isEstimatorKind("Pipeline"), isEstimatorKind("nope")]).toEqual([true, true, false, false]);
  });

  it("fits off the main thread and returns the fitted model, which predicts like one fitted here", async () => {
    const { X, y } = line(200);
    const model = await pool.fit("LinearRegression", {}, X, y);
    const remote = loadModel(model) as Regressor;
    const local = (createEstimator("LinearRegression") as Regressor).fit(X, y);
    expect(Array.from(remote.predict([[2, 3]]))).toEqual(Array.from(local.predict([[2, 3]])));
    expect(remote.predict([[2, 3]])[0]).toBeCloseTo(1, 8);
  });

  it("reports epochs while training, and continues a model with partialFit", async () => {
    const { X, y } = line(500);
    const epochs: number[] = [];
    const first = await pool.fit("SGDRegressor", { maxIter: 5, tol: null, randomState: 0 }, X, y, { onEpoch: (p) => epochs.push(p.epoch) });
    expect(epochs.length).toBeGreaterThan(0);
    const more = await pool.partialFit(first, X, y);
    expect(more.kind).toBe("SGDRegressor");
    expect(JSON.stringify(more.state)).not.toBe(JSON.stringify(first.state));
  });

  it("refits a Pipeline's shape anew on other data, with step params set first", async () => {
    const { X, y } = line(200);
    const shape = new Pipeline([new StandardScaler(), new Ridge({ alpha: 5 })]).fit([[0, 0], [1, 2], [2, 1]], [0, 1, 2]).toJSON();
    const model = await pool.refit(shape, { ridge__alpha: 1e-9 }, X, y);
    const refit = loadModel(model) as Pipeline;
    expect(refit.getParams()).toMatchObject({ ridge__alpha: 1e-9 });
    expect((refit.predict([[2, 3]]) as Float64Array)[0]).toBeCloseTo(1, 5); // learned from X, y, not the shape's three rows
    await expect(pool.refit(shape, { nope__alpha: 1 }, X, y)).rejects.toMatchObject({ reason: "UNKNOWN_PARAMETER" });
  });

  it("runs several fits at once and keeps each result with its call", async () => {
    const { X } = line(100);
    const fits = [1, 2, 3, 4].map((k) => pool.fit("LinearRegression", {}, X, X.map(([a]) => k * a)));
    const models = (await Promise.all(fits)).map((m) => loadModel(m) as Regressor);
    expect(models.map((m) => Math.round(m.predict([[1, 0]])[0]))).toEqual([1, 2, 3, 4]);
  });

  it("bad input fails with the same typed errors as in-process", async () => {
    const err = await pool.fit("LinearRegression", {}, [[1, NaN]], [1]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).reason).toBe("NON_FINITE_INPUT");
    const unknown = await pool.fit("NoSuchModel", {}, [[1]], [1]).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(MLError);
    expect((unknown as MLError).reason).toBe("UNKNOWN_ESTIMATOR");
  });
});
