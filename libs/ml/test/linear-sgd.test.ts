import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { InvalidInputError, MLError } from "../src/errors.js";
import { LinearRegression, LogisticRegression, SGDClassifier, SGDRegressor } from "../src/linear/index.js";
import { StandardScaler } from "../src/preprocessing/index.js";
import { loadModel } from "../src/serialize.js";
import { makeBlobs, makeRegression, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectClassifierParity, expectLosslessRoundTrip, expectRegressorParity } from "./helpers/linear-onnx.js";

// scikit-learn 1.2.1 with shuffle=False (so the sample order, and so every update, is the same).
const SKLEARN = {
  // makeBlobs(3, 120, 3, [0, 1], { spread: 1.5 })
  blobs2Hinge: { coef: [-19.299253612501953, 24.622401622374557, 1.7004817099152398], intercept: [-0.3567984570877538], nIter: 7 },
  blobs2Log: { coef: [-11.45417795325857, 11.7514052406448, 2.533598470489834], intercept: [3.4764160868533516], nIter: 7 },
  // makeBlobs(5, 200, 4, ["a", "b", "c", "d"], { spread: 1.5 })
  blobs4Hinge: {
    coef: [3.1643420439615726, 23.388367916727915, -18.912417968468194, 16.93976713183369, -45.65207537762405, 14.924789071963998, 29.448752110840612, 5.833658249791194, 7.339944946114764, -1.0332259926938219, 7.375656058025523, 8.497636605474018, -7.542906512490718, -44.82844414518006, -26.076701208039474, -41.02320075694964],
    intercept: [-47.365644643825256, -70.69934161987352, -28.75770316868753, -114.52241488801663],
    nIter: 93,
  },
  // makeRegression(7, 200, 5, { informative: 3, noise: 0.5, bias: 2 })
  regression: { coef: [-3.9148186314561526, -3.447059524755895, 3.8436622914906713, 0.012451444335372304, -0.058822231357617896], intercept: 2.0685779304784213, nIter: 19 },
  regressionConstant5: { coef: [-2.615721157291801, -2.1542971190202, 2.365053825247903, -0.2459179634386177, -0.3533997413229932], intercept: 1.6208417922362575 },
};

function expectRelative(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
  }
}

describe("SGD against scikit-learn, update for update", () => {
  const b2 = makeBlobs(3, 120, 3, [0, 1], { spread: 1.5 });
  const b4 = makeBlobs(5, 200, 4, ["a", "b", "c", "d"], { spread: 1.5 });
  const reg = makeRegression(7, 200, 5, { informative: 3, noise: 0.5, bias: 2 });

  it("SGDClassifier hinge and log_loss, two classes, schedule 'optimal'", () => {
    for (const [loss, expected] of [["hinge", SKLEARN.blobs2Hinge], ["log_loss", SKLEARN.blobs2Log]] as const) {
      const model = new SGDClassifier({ loss, shuffle: false }).fit(b2.X, b2.y);
      expectRelative(model.coef.data, expected.coef, 1e-12);
      expectRelative(model.intercept, expected.intercept, 1e-12);
      expect(model.nIter).toBe(expected.nIter);
    }
  });

  it("SGDClassifier one-vs-rest over four string classes, each output stopping on its own", () => {
    const model = new SGDClassifier({ shuffle: false }).fit(b4.X, b4.y);
    expectRelative(model.coef.data, SKLEARN.blobs4Hinge.coef, 1e-12);
    expectRelative(model.intercept, SKLEARN.blobs4Hinge.intercept, 1e-12);
    expect(model.nIter).toBe(SKLEARN.blobs4Hinge.nIter);
  });

  it("SGDRegressor with 'invscaling' and with a constant rate for a fixed number of epochs", () => {
    const model = new SGDRegressor({ shuffle: false }).fit(reg.X, reg.y);
    expectRelative(model.coef, SKLEARN.regression.coef, 1e-12);
    expect(model.intercept).toBeCloseTo(SKLEARN.regression.intercept, 12);
    expect(model.nIter).toBe(SKLEARN.regression.nIter);
    const constant = new SGDRegressor({ shuffle: false, learningRate: "constant", eta0: 0.001, penalty: null, maxIter: 5, tol: null }).fit(reg.X, reg.y);
    expectRelative(constant.coef, SKLEARN.regressionConstant5.coef, 1e-12);
    expect(constant.intercept).toBeCloseTo(SKLEARN.regressionConstant5.intercept, 12);
    expect(constant.nIter).toBe(5);
  });
});

describe("SGD: quality, partialFit, callbacks, determinism", () => {
  const blobs = makeBlobs(12, 3000, 5, ["p", "q", "r"], { spread: 1.2, separation: 3 });
  const reg = makeRegression(21, 3000, 6, { informative: 4, noise: 0.5, bias: 1 });

  // Overlapping blobs: LogisticRegression's held-out accuracy (0.881) is about the best a linear model gets here.
  const train = rowsOf(blobs.X, 0, 2000);
  const test = rowsOf(blobs.X, 2000, 3000);
  const [yTrain, yTest] = [blobs.y.slice(0, 2000), blobs.y.slice(2000)];
  const reference = new LogisticRegression().fit(train, yTrain).score(test, yTest);

  it("SGDClassifier learns overlapping classes about as well as LogisticRegression", () => {
    expect(reference).toBeCloseTo(0.881, 3);
    const model = new SGDClassifier({ loss: "log_loss", randomState: 0 }).fit(train, yTrain);
    expect(model.score(test, yTest)).toBeGreaterThan(reference - 0.02);
  });

  it("partialFit over batches reaches fit's accuracy and R² within a tolerance (standardized X, as sklearn advises for SGD)", () => {
    const scaler = new StandardScaler().fit(train);
    const [trainS, testS] = [scaler.transform(train), scaler.transform(test)];
    const fit = new SGDClassifier({ loss: "log_loss", randomState: 1 }).fit(trainS, yTrain);
    const online = new SGDClassifier({ loss: "log_loss", randomState: 1 });
    for (let epoch = 0; epoch < 20; epoch++) {
      for (let from = 0; from < 2000; from += 250) online.partialFit(rowsOf(trainS, from, from + 250), yTrain.slice(from, from + 250), { classes: ["p", "q", "r"] });
    }
    expect(fit.score(testS, yTest)).toBeGreaterThan(reference - 0.01);
    expect(online.score(testS, yTest)).toBeGreaterThan(fit.score(testS, yTest) - 0.03);

    const fitR = new SGDRegressor({ randomState: 1 }).fit(reg.X, reg.y);
    const onlineR = new SGDRegressor({ randomState: 1 });
    for (let epoch = 0; epoch < 5; epoch++) {
      for (let from = 0; from < 3000; from += 300) onlineR.partialFit(rowsOf(reg.X, from, from + 300), reg.y.subarray(from, from + 300));
    }
    expect(fitR.score(reg.X, reg.y)).toBeGreaterThan(new LinearRegression().fit(reg.X, reg.y).score(reg.X, reg.y) - 0.005);
    expect(onlineR.score(reg.X, reg.y)).toBeGreaterThan(fitR.score(reg.X, reg.y) - 0.01);
  });

  it("onEpoch reports the mean loss of every epoch", () => {
    const losses: number[] = [];
    const model = new SGDRegressor({ randomState: 4, onEpoch: ({ epoch, loss }) => losses.push(epoch === losses.length + 1 ? loss! : NaN) }).fit(reg.X, reg.y);
    expect(losses).toHaveLength(model.nIter);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    // Squared error halves the mean square, so the last loss is about noise² / 2.
    expect(losses[losses.length - 1]).toBeCloseTo(0.125, 1);
    const epochs: number[] = [];
    const online = new SGDClassifier({ randomState: 4, onEpoch: ({ epoch }) => epochs.push(epoch) });
    online.partialFit(rowsOf(blobs.X, 0, 100), blobs.y.slice(0, 100), { classes: ["p", "q", "r"] });
    online.partialFit(rowsOf(blobs.X, 100, 200), blobs.y.slice(100, 200));
    expect(epochs).toEqual([1, 2]);
  });

  it("the same randomState gives identical models; another gives a different shuffle", () => {
    const a = new SGDClassifier({ randomState: 7 }).fit(blobs.X, blobs.y);
    const b = new SGDClassifier({ randomState: 7 }).fit(blobs.X, blobs.y);
    const c = new SGDClassifier({ randomState: 8 }).fit(blobs.X, blobs.y);
    expect(Array.from(a.coef.data)).toEqual(Array.from(b.coef.data));
    expect(Array.from(a.coef.data)).not.toEqual(Array.from(c.coef.data));
  });

  it("a loaded model continues partialFit exactly as the original would", () => {
    const model = new SGDClassifier({ loss: "log_loss", randomState: 3 });
    model.partialFit(rowsOf(blobs.X, 0, 500), blobs.y.slice(0, 500), { classes: ["p", "q", "r"] });
    const loaded = loadModel(JSON.stringify(model.toJSON())) as SGDClassifier;
    model.partialFit(rowsOf(blobs.X, 500, 1000), blobs.y.slice(500, 1000));
    loaded.partialFit(rowsOf(blobs.X, 500, 1000), blobs.y.slice(500, 1000));
    expect(Array.from(loaded.coef.data)).toEqual(Array.from(model.coef.data));
    expect(Array.from(loaded.intercept)).toEqual(Array.from(model.intercept));
  });

  it("predictProba is only there for log_loss; probabilities are one-vs-rest sigmoids normalised", () => {
    const hinge = new SGDClassifier({ randomState: 0 }).fit(blobs.X, blobs.y);
    expect(() => hinge.predictProba(blobs.X)).toThrow(MLError);
    const log = new SGDClassifier({ loss: "log_loss", randomState: 0 }).fit(blobs.X, blobs.y);
    const p = log.predictProba(rowsOf(blobs.X, 0, 1)).data;
    const d = log.decisionFunction(rowsOf(blobs.X, 0, 1)).data;
    const s = Array.from(d, (z) => 1 / (1 + Math.exp(-z)));
    const total = s.reduce((a, b) => a + b, 0);
    s.forEach((v, c) => expect(p[c]).toBeCloseTo(v / total, 12));
  });
});

describe("SGD: ONNX", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const two = makeBlobs(6, 600, 4, [0, 1], { spread: 1.5 });
  const many = makeBlobs(7, 1200, 4, ["w", "x", "y", "z", "v", "u"], { spread: 1 });

  it("hinge: 'probabilities' carries the decision scores ([−d, d] for two classes), as skl2onnx", async () => {
    const binary = new SGDClassifier({ randomState: 0 }).fit(two.X, two.y);
    await expectClassifierParity(pool, binary, repeatRows(two.X, 10_000), { scores: true });
    await expectClassifierParity(pool, binary, rowsOf(two.X, 0, 1), { scores: true });
    const multi = new SGDClassifier({ randomState: 0 }).fit(many.X, many.y);
    await expectClassifierParity(pool, multi, repeatRows(many.X, 10_000), { scores: true });
  });

  it("log_loss: probabilities for two and six (string) classes", async () => {
    await expectClassifierParity(pool, new SGDClassifier({ loss: "log_loss", randomState: 0 }).fit(two.X, two.y), repeatRows(two.X, 10_000));
    const multi = new SGDClassifier({ loss: "log_loss", randomState: 0 }).fit(many.X, many.y);
    await expectClassifierParity(pool, multi, repeatRows(many.X, 10_000));
    await expectClassifierParity(pool, multi, rowsOf(many.X, 5, 6));
  });

  it("SGDRegressor", async () => {
    const { X, y } = makeRegression(2, 1000, 5, { noise: 0.1, bias: 3 });
    const model = new SGDRegressor({ randomState: 0 }).fit(X, y);
    await expectRegressorParity(pool, model, repeatRows(X, 10_000));
    await expectRegressorParity(pool, model, rowsOf(X, 0, 1));
  });
});

describe("SGD: serialization and parameters", () => {
  const { X, y } = makeBlobs(9, 200, 3, ["a", "b", "c"]);

  it("toJSON → loadModel is lossless", () => {
    expectLosslessRoundTrip(new SGDClassifier({ loss: "log_loss", randomState: 1 }).fit(X, y), X, (m, x) => m.predictProba(x).data);
    const r = makeRegression(2, 100, 3);
    expectLosslessRoundTrip(new SGDRegressor({ randomState: 1 }).fit(r.X, r.y), r.X, (m, x) => m.predict(x));
  });

  it("has sklearn's defaults; the callback is not a parameter", () => {
    const c = new SGDClassifier({ onEpoch: () => {} }).getParams();
    expect(c).toMatchObject({ loss: "hinge", penalty: "l2", alpha: 1e-4, maxIter: 1000, tol: 1e-3, learningRate: "optimal", eta0: 0, powerT: 0.5, nIterNoChange: 5, randomState: null });
    expect(c).not.toHaveProperty("onEpoch");
    expect(new SGDRegressor().getParams()).toMatchObject({ loss: "squared_error", learningRate: "invscaling", eta0: 0.01, powerT: 0.25 });
    expect(() => new SGDClassifier({ learningRate: "constant" }).fit(X, y)).toThrow(/eta0 must be greater than 0 with learningRate "constant"/);
  });
});

describe("SGD: bad input", () => {
  const { X, y } = makeBlobs(1, 40, 3, [1, 2]);
  describe("SGDClassifier", () => {
    itRejectsBadInput(() => new SGDClassifier({ randomState: 0 }), X, y, (m, x) => (m as SGDClassifier).predict(x), { classifier: true });
  });
  describe("SGDRegressor", () => {
    itRejectsBadInput(() => new SGDRegressor({ randomState: 0 }), X, y, (m, x) => (m as SGDRegressor).predict(x));
  });

  it("partialFit needs classes first, and rejects labels outside them", () => {
    expect(() => new SGDClassifier().partialFit(X, y)).toThrow(/needs options.classes/);
    const model = new SGDClassifier({ randomState: 0 }).partialFit(X, y, { classes: [1, 2] });
    expect(() => model.partialFit(X, y.map((v) => (v === 1 ? 3 : v)))).toThrow(InvalidInputError);
    expect(() => model.partialFit(X, y, { classes: [1, 2, 3] })).toThrow(/differ from the first partialFit/);
  });

  it("stops with a typed error when the weights overflow instead of returning them", () => {
    const { X: big, y: target } = makeRegression(3, 200, 3);
    const scaled = { ...big, data: big.data.map((v) => v * 1e300) };
    expect(() => new SGDRegressor({ learningRate: "constant", eta0: 10, randomState: 0 }).fit(scaled, target)).toThrow(/diverged at epoch 1/);
  });
});
