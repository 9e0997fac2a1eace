import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { PCA } from "../src/decomposition/index.js";
import { InvalidInputError, MLError, NotFittedError } from "../src/errors.js";
import { LogisticRegression, Ridge, SGDClassifier } from "../src/linear/index.js";
import type { Matrix } from "../src/matrix.js";
import { Pipeline } from "../src/pipeline.js";
import { MinMaxScaler, OneHotEncoder, SimpleImputer, StandardScaler } from "../src/preprocessing/index.js";
import { Random } from "../src/random.js";
import { loadModel } from "../src/serialize.js";
import { iris, makeRegression, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { expectClassifierParity, expectLosslessRoundTrip, expectRegressorParity, expectTransformParity } from "./helpers/linear-onnx.js";

/** Iris with ~10% of the values missing. */
function irisWithGaps(): { X: Matrix; y: string[] } {
  const { X, y } = iris();
  const random = new Random(5);
  return { X: { ...X, data: X.data.map((v) => (random.next() < 0.1 ? NaN : v)) }, y };
}

describe("Pipeline", () => {
  const { X, y } = iris();

  it("fits as one and predicts exactly what the steps do by hand", () => {
    const pipe = new Pipeline([
      ["scale", new StandardScaler()],
      ["clf", new LogisticRegression()],
    ]).fit(X, y);
    const scaler = new StandardScaler().fit(X);
    const clf = new LogisticRegression().fit(scaler.transform(X), y);
    expect(pipe.predict(X)).toEqual(clf.predict(scaler.transform(X)));
    expect(Array.from(pipe.predictProba(X).data)).toEqual(Array.from(clf.predictProba(scaler.transform(X)).data));
    expect(pipe.score(X, y)).toBeGreaterThan(0.95);
    expect(pipe.classes).toEqual(["setosa", "versicolor", "virginica"]);
    expect(pipe.nFeatures).toBe(4);
    expect(pipe.fitted).toBe(true);
  });

  it("names bare estimators as make_pipeline does", () => {
    const pipe = new Pipeline([new StandardScaler(), new PCA(), new StandardScaler(), new LogisticRegression()]);
    expect(pipe.steps.map(([name]) => name)).toEqual(["standardscaler-1", "pca", "standardscaler-2", "logisticregression"]);
  });

  it("predicts when its last step does; a transformer only transforms", () => {
    expect(new LogisticRegression().predicts).toBe(true);
    expect(new StandardScaler().predicts).toBe(false);
    expect(new PCA().predicts).toBe(false);
    expect(new Pipeline([new StandardScaler(), new LogisticRegression()]).predicts).toBe(true);
    expect(new Pipeline([new StandardScaler(), new PCA()]).predicts).toBe(false);
  });

  it("getParams/setParams address parameters as step__param", () => {
    const pipe = new Pipeline([
      ["scale", new StandardScaler()],
      ["clf", new LogisticRegression()],
    ]);
    expect(pipe.getParams()).toMatchObject({ scale__withMean: true, scale__withStd: true, clf__C: 1, clf__maxIter: 100 });
    pipe.setParams({ clf__C: 0.01, scale__withMean: false });
    expect((pipe.namedSteps.clf as LogisticRegression).getParams().C).toBe(0.01);
    expect(pipe.getParams().scale__withMean).toBe(false);
    expect(() => pipe.setParams({ svm__C: 1 })).toThrow(/"svm__C" must be "step__param"/);
    expect(() => pipe.setParams({ clf__gamma: 1 })).toThrow(/no parameter "gamma"/);
  });

  it("transforms through when every step is a transformer", () => {
    const pipe = new Pipeline([new StandardScaler(), new PCA({ nComponents: 2 })]);
    const Z = pipe.fitTransform(X);
    expect([Z.rows, Z.cols]).toEqual([150, 2]);
    const pca = new PCA({ nComponents: 2 }).fit(new StandardScaler().fit(X).transform(X));
    expect(Array.from(Z.data)).toEqual(Array.from(pca.transform(new StandardScaler().fit(X).transform(X)).data));
  });

  it("handles missing values when it starts with an imputer", () => {
    const gaps = irisWithGaps();
    const pipe = new Pipeline([new SimpleImputer(), new StandardScaler(), new LogisticRegression()]).fit(gaps.X, gaps.y);
    expect(pipe.score(gaps.X, gaps.y)).toBeGreaterThan(0.9);
    // It says so, as its first step does; the runtime refuses missing values for the others.
    expect(pipe.takesMissingValues).toBe(true);
    expect(new SimpleImputer().takesMissingValues).toBe(true);
    expect(new LogisticRegression().takesMissingValues).toBe(false);
    expect(new Pipeline([new StandardScaler(), new SimpleImputer(), new LogisticRegression()]).takesMissingValues).toBe(false);
    expect(() => new Pipeline([new StandardScaler(), new SimpleImputer(), new LogisticRegression()]).fit(gaps.X, gaps.y)).toThrow(InvalidInputError);
  });
});

describe("Pipeline: one ONNX graph", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  it("imputer → scaler → PCA → logistic regression on iris with NaN, string labels, 1 row and 10,000 rows", async () => {
    const { X, y } = irisWithGaps();
    const pipe = new Pipeline([
      ["impute", new SimpleImputer({ strategy: "median" })],
      ["scale", new StandardScaler()],
      ["pca", new PCA({ nComponents: 3 })],
      ["clf", new LogisticRegression()],
    ]).fit(X, y);
    await expectClassifierParity(pool, pipe, repeatRows(X, 10_000));
    await expectClassifierParity(pool, pipe, rowsOf(X, 0, 1));
  });

  it("one-hot → SGD hinge (scores) and min-max → ridge", async () => {
    const random = new Random(2);
    const cats: Matrix = { data: Float64Array.from({ length: 900 }, (_, i) => (i % 3 === 2 ? random.int(5) : random.int(3))), rows: 300, cols: 3 };
    const labels = Array.from({ length: 300 }, (_, r) => (cats.data[r * 3] + cats.data[r * 3 + 2] > 3 ? "hi" : "lo"));
    const clf = new Pipeline([new OneHotEncoder(), new SGDClassifier({ randomState: 0 })]).fit(cats, labels);
    await expectClassifierParity(pool, clf, repeatRows(cats, 10_000), { scores: true });
    const { X, y } = makeRegression(4, 400, 5, { noise: 0.1 });
    const reg = new Pipeline([new MinMaxScaler(), new Ridge({ alpha: 0.1 })]).fit(X, y);
    await expectRegressorParity(pool, reg, repeatRows(X, 10_000));
  });

  it("a pipeline of transformers exports its transform", async () => {
    const { X } = iris();
    await expectTransformParity(pool, new Pipeline([new StandardScaler(), new PCA({ nComponents: 2, whiten: true })]).fit(X), repeatRows(X, 10_000));
  });
});

describe("Pipeline: serialization and misuse", () => {
  const { X, y } = iris();

  it("toJSON nests the steps' models; loadModel rebuilds it losslessly", () => {
    const pipe = new Pipeline([
      ["scale", new StandardScaler()],
      ["clf", new LogisticRegression({ C: 3 })],
    ]).fit(X, y);
    const json = pipe.toJSON();
    expect(json.kind).toBe("Pipeline");
    expect((json.state as { steps: { name: string; model: { kind: string } }[] }).steps.map((s) => [s.name, s.model.kind])).toEqual([
      ["scale", "StandardScaler"],
      ["clf", "LogisticRegression"],
    ]);
    const loaded = expectLosslessRoundTrip(pipe, X, (m, x) => m.predictProba(x).data);
    expect(loaded).toBeInstanceOf(Pipeline);
    expect(loaded.getParams()).toEqual(pipe.getParams());
  });

  it("an unfitted pipeline round-trips too, and refuses to predict", () => {
    const pipe = loadModel(JSON.stringify(new Pipeline([new StandardScaler(), new Ridge()]).toJSON())) as Pipeline;
    expect(pipe.fitted).toBe(false);
    expect(() => pipe.predict(X)).toThrow(NotFittedError);
    expect(() => pipe.toOnnx()).toThrow(NotFittedError);
  });

  it("refuses bad compositions with typed errors", () => {
    expect(() => new Pipeline([] as never)).toThrow(InvalidInputError);
    expect(() => new Pipeline([new Ridge(), new StandardScaler()])).toThrow(/not the last step, so it must have transform/);
    expect(() => new Pipeline([["a", new StandardScaler()], ["a", new Ridge()]])).toThrow(/"a" is used twice/);
    expect(() => new Pipeline([["a__b", new Ridge()]])).toThrow(/contain no "__"/);
    const reg = new Pipeline([new StandardScaler(), new Ridge()]).fit(X, X.data.filter((_, i) => i % 4 === 0));
    expect(() => reg.predictProba(X)).toThrow(MLError);
    expect(() => reg.predictProba(X)).toThrow(/has no predictProba/);
  });

  it("passes input errors through: NaN without an imputer names the column; wrong width", () => {
    const pipe = new Pipeline([new StandardScaler(), new LogisticRegression()]).fit(X, y);
    const gaps = irisWithGaps();
    expect(() => pipe.predict(gaps.X)).toThrow(/NaN in column \d/);
    expect(() => pipe.predict({ data: new Float64Array(3), shape: [1, 3] })).toThrow(/fitted on 4 columns, X has 3/);
    expect(() => new Pipeline([new StandardScaler(), new LogisticRegression()]).fit(X, y.map(() => "one"))).toThrow(/1 class/);
  });
});
