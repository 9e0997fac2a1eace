import { tableFromArrays } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { PCA } from "../src/decomposition/index.js";
import { InvalidInputError, MLError, ModelFormatError, NotFittedError } from "../src/errors.js";
import { Graph, concat, input } from "../src/graph/index.js";
import { LinearRegression, LogisticRegression, Ridge } from "../src/linear/index.js";
import type { Matrix } from "../src/matrix.js";
import { Pipeline } from "../src/pipeline.js";
import { OneHotEncoder, SimpleImputer, StandardScaler } from "../src/preprocessing/index.js";
import { loadModel } from "../src/serialize.js";
import { iris, makeRegression, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { expectClassifierParity, expectClose, expectLosslessRoundTrip, expectRegressorParity, expectTransformParity } from "./helpers/linear-onnx.js";

const matrix = (rows: number[][]): Matrix => ({ data: Float64Array.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });
const rowsOfMatrix = (m: Matrix) => Array.from({ length: m.rows }, (_, r) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)));

/** Iris with a categorical fifth column (petal length rounded), the kind a OneHotEncoder takes. */
function irisWithCategory(): { X: Matrix; y: string[] } {
  const { X, y } = iris();
  const rows = rowsOfMatrix(X).map((r) => [...r, Math.round(r[2]!)]);
  return { X: matrix(rows), y };
}

describe("Graph (a pipeline as a graph of traced expressions and layers)", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const X = matrix([
    [1, -2, 3, 0.5],
    [0, 4, -1, 2],
    [2.5, 0, 0.25, -3],
  ]);

  it("traces a function of X once and computes it as numpy would, in TypeScript and in ONNX", async () => {
    const g = Graph.trace((x) =>
      concat(
        x.col(0).log1p(),
        x.cols(1, 3).mul([2, 3]).add(1),
        x.sum(),
        x.mean(),
        x.max().sub(x.min()),
        x.abs().sqrt().clip(0, 1.5),
        x.sigmoid().sub(x.tanh()).pow(2),
        x.col(3).maximum(x.col(0)).div(x.col(1).square().add(1)),
        x.select([3, 0]).neg().exp().reciprocal().floor(),
      ),
    );
    const out = g.fit(X).transform(X);
    const expected = rowsOfMatrix(X).map((r) => {
      const [a, b, c, d] = r as [number, number, number, number];
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      return [
        Math.log1p(a),
        b * 2 + 1,
        c * 3 + 1,
        a + b + c + d,
        (a + b + c + d) / 4,
        Math.max(...r) - Math.min(...r),
        ...r.map((v) => Math.min(1.5, Math.sqrt(Math.abs(v)))),
        ...r.map((v) => (sig(v) - Math.tanh(v)) ** 2),
        Math.max(d, a) / (b * b + 1),
        Math.floor(1 / Math.exp(-d)),
        Math.floor(1 / Math.exp(-a)),
      ];
    });
    expect(out.cols).toBe(expected[0]!.length);
    expectClose(out.data, expected.flat(), "traced graph");
    expect(g.predicts).toBe(false);
    expect(g.layers).toEqual([]);
    await expectTransformParity(pool, g, repeatRows(X, 1000));
  });

  it("fits layers on what reaches them, in branches joined by concat, as the same steps by hand", async () => {
    const { X: data, y } = irisWithCategory();
    const x = input();
    const measures = x.cols(0, 4).log1p().pipe(new StandardScaler(), "scale");
    const category = x.col(4).pipe(new OneHotEncoder(), "category");
    const g = new Graph(x, concat(measures, category, x.col(2).mul(x.col(3))).pipe(new LogisticRegression({ C: 10 }), "clf")).fit(data, y);

    const cols = (m: Matrix, from: number, to: number) => matrix(rowsOfMatrix(m).map((r) => r.slice(from, to)));
    const logged = matrix(rowsOfMatrix(cols(data, 0, 4)).map((r) => r.map(Math.log1p)));
    const scaled = new StandardScaler().fit(logged).transform(logged);
    const encoded = new OneHotEncoder().fit(cols(data, 4, 5)).transform(cols(data, 4, 5));
    const area = rowsOfMatrix(data).map((r) => [r[2]! * r[3]!]);
    const features = matrix(rowsOfMatrix(scaled).map((r, i) => [...r, ...rowsOfMatrix(encoded)[i]!, ...area[i]!]));
    const byHand = new LogisticRegression({ C: 10 }).fit(features, y);

    expect(g.predict(data)).toEqual(byHand.predict(features));
    expectClose(g.predictProba(data).data, byHand.predictProba(features).data, "probabilities", 1e-12);
    expect(g.score(data, y)).toBeGreaterThan(0.95);
    expect(g.classes).toEqual(["setosa", "versicolor", "virginica"]);
    expect(g.predicts).toBe(true);
    expect(g.nFeatures).toBe(5);
    expect(g.layers.map(([name]) => name)).toEqual(["scale", "category", "clf"]);
    await expectClassifierParity(pool, g, repeatRows(data, 5_000));
    await expectClassifierParity(pool, g, rowsOf(data, 0, 1));
    expectLosslessRoundTrip(g, data, (m, X) => m.predict(X));
  });

  it("makes features a linear model cannot (x and x², polynomial), and exports a regressor", async () => {
    const { X: data } = makeRegression(3, 500, 3);
    const y = Float64Array.from(rowsOfMatrix(data), (r) => 2 * r[0]! ** 2 - r[1]! + 0.5 * r[2]! * r[0]!);
    const x = input();
    const g = new Graph(x, concat(x, x.square(), x.col(2).mul(x.col(0))).pipe(new Ridge({ alpha: 1e-6 }))).fit(data, y);
    expect(g.score(data, y)).toBeGreaterThan(0.999);
    expect(new LinearRegression().fit(data, y).score(data, y)).toBeLessThan(0.7);
    await expectRegressorParity(pool, g, data);
  });

  it("takes any estimator as a layer, a Pipeline or another Graph among them, and is itself one a Pipeline takes", async () => {
    const { X: data, y } = iris();
    const inner = Graph.trace((x) => x.log1p());
    const x = input();
    const g = new Graph(x, x.pipe(inner, "logs").pipe(new Pipeline([new StandardScaler(), new PCA({ nComponents: 2 })]), "reduce")).fit(data);
    expect(g.transform(data).cols).toBe(2);
    await expectTransformParity(pool, g, data);
    const pipe = new Pipeline([Graph.trace((v) => concat(v, v.square())), new LogisticRegression()]).fit(data, y);
    expect(pipe.score(data, y)).toBeGreaterThan(0.95);
    await expectClassifierParity(pool, pipe, data);
  });

  it("is data, not code: an unfitted graph round-trips through JSON and fits to the same model", () => {
    const { X: data, y } = irisWithCategory();
    const x = input();
    const g = new Graph(x, concat(x.cols(0, 4).clip(0, 6).pipe(new StandardScaler()), x.col(4).pipe(new OneHotEncoder())).pipe(new LogisticRegression()));
    const text = JSON.stringify(g.toJSON());
    expect(text).not.toMatch(/=>|function/);
    const again = loadModel(text) as Graph;
    expect(again.fitted).toBe(false);
    again.fit(data, y);
    g.fit(data, y);
    expect(again.predict(data)).toEqual(g.predict(data));
    expect(Buffer.from(again.toOnnx()).equals(Buffer.from(g.toOnnx()))).toBe(true);
  });

  it("selects columns by name when its input is given them, and takes X only with those names in that order", () => {
    const { X: data, y } = iris();
    const names = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    const column = (j: number) => Float64Array.from({ length: data.rows }, (_, r) => data.data[r * 4 + j]!);
    const table = tableFromArrays(Object.fromEntries(names.map((n, j) => [n, column(j)])));
    const x = input(names);
    const g = new Graph(x, concat(x.col("petal_length").mul(x.col("petal_width")), x.select(["sepal_width", 0])).pipe(new LogisticRegression()));
    expect(g.columns).toEqual(names);
    g.fit(table, y);
    expect(g.predict(table)).toEqual(g.predict(data)); // a matrix without names goes by position
    const swapped = tableFromArrays({ sepal_width: column(1), sepal_length: column(0), petal_length: column(2), petal_width: column(3) });
    expect(() => g.predict(swapped)).toThrow(/X's columns are sepal_width, sepal_length, petal_length, petal_width; the Graph's input takes sepal_length, sepal_width, petal_length, petal_width, in this order/);
    expect(() => g.fit(tableFromArrays({ a: column(0) }), y)).toThrow(/the Graph's input has 4 columns/);
    expect(() => x.col("petal")).toThrow(/X has no column "petal" \(it has sepal_length/);
    expect(() => input().col("a")).toThrow(/only an input given column names/);
    expect(() => x.log1p().col("sepal_length")).toThrow(/only an input given column names/);
    expect(() => input(["a", "a"])).toThrow(/distinct non-empty strings/);
    const again = loadModel(JSON.stringify(g.toJSON())) as Graph<LogisticRegression>;
    expect(again.columns).toEqual(names);
    expect(again.predict(table)).toEqual(g.predict(table));
    expect(g.toMermaid()).toContain('n0["X: sepal_length, sepal_width, petal_length, petal_width [4]"]');
  });

  it("addresses layer parameters as layer__param, refusing unknown ones without changing any", () => {
    const x = input();
    const g = new Graph(x, x.pipe(new StandardScaler(), "scale").pipe(new LogisticRegression()));
    expect(g.getParams()).toMatchObject({ scale__withMean: true, logisticregression__C: 1 });
    g.setParams({ logisticregression__C: 0.5, scale__withStd: false });
    expect(g.getParams()).toMatchObject({ scale__withStd: false, logisticregression__C: 0.5 });
    expect(() => g.setParams({ logisticregression__C: 2, nope__x: 1 })).toThrow(/Graph parameter "nope__x" must be "step__param" with a step among scale, logisticregression/);
    expect(g.getParams().logisticregression__C).toBe(0.5);
  });

  it("takes missing values when everything reading X first is an imputer", () => {
    const x = input();
    const withGaps = matrix([
      [1, NaN],
      [3, 4],
      [NaN, 8],
    ]);
    const g = new Graph(x, x.pipe(new SimpleImputer()).log1p()).fit(withGaps);
    expect(g.takesMissingValues).toBe(true);
    expectClose(g.transform(withGaps).data, [1, 6, 3, 4, 2, 8].map(Math.log1p), "imputed");
    expect(() => Graph.trace((v) => v.log1p()).fit(withGaps)).toThrow(/NaN in column 1/);
  });

  it("refuses graphs it cannot run, saying why", () => {
    const x = input();
    expect(() => new Graph(x, concat(x.pipe(new LogisticRegression()), x))).toThrow(InvalidInputError);
    expect(() => new Graph(x, concat(x.pipe(new LogisticRegression()), x))).toThrow(/layer "logisticregression" \(LogisticRegression\) feeds other nodes, so it must transform/);
    expect(() => new Graph(x, concat(x, input()))).toThrow(/reads 2 inputs/);
    expect(() => new Graph(x, input().log1p())).toThrow(/does not read its input/);
    expect(() => new Graph(x, x.pipe(new StandardScaler(), "a__b"))).toThrow(/contain no "__"/);
    const scaler = new StandardScaler();
    expect(() => new Graph(x, concat(x.pipe(scaler), x.log1p().pipe(scaler)))).toThrow(/layer "standardscaler-2" is an estimator another layer is too/);
    expect(() => x.cols(2, 1)).toThrow(/no range of columns/);
    expect(() => x.add(Number.NaN)).toThrow(/a finite number/);
    expect(() => x.clip(2, 1)).toThrow(/min 2 is above max 1/);
    expect(() => Graph.trace((v) => v.cols(0, 2).add(v.cols(0, 3))).fit(X)).toThrow(/add: 2 columns with 3/);
    expect(() => Graph.trace((v) => v.col(7)).fit(X)).toThrow(/select: column 7 of 4/);
    expect(() => Graph.trace((v) => v.mul([1, 2])).fit(X)).toThrow(/mul: 2 constants for 4 columns/);
    const g = Graph.trace((v) => v.log1p());
    expect(() => g.transform(X)).toThrow(NotFittedError);
    expect(() => g.toOnnx()).toThrow(NotFittedError);
    g.fit(X);
    expect(() => g.transform(matrix([[1, 2]]))).toThrow(/fitted on 4 columns, X has 2/);
    expect(() => g.predict(X)).toThrow(MLError);
    expect(() => g.predict(X)).toThrow(/output \(a stateless node\) has no predict/);
  });

  it("refuses serialized graphs that reference what is not there", () => {
    const good = Graph.trace((v) => v.log1p()).toJSON();
    const withNodes = (nodes: unknown[]) => ({ ...good, state: { ...(good.state as object), nodes } });
    expect(() => loadModel(withNodes([{ op: "input" }, { op: "unary", fn: "log1p", x: 1 }]))).toThrow(/node 1: reads 1, not an earlier node/);
    expect(() => loadModel(withNodes([{ op: "input" }, { op: "unary", fn: "eval", x: 0 }]))).toThrow(/unknown unary "eval"/);
    expect(() => loadModel(withNodes([{ op: "unary", fn: "abs", x: 0 }]))).toThrow(/the first node is the input/);
    expect(() => loadModel(withNodes([{ op: "input" }, { op: "binary", fn: "add", a: 0, constant: "1" }]))).toThrow(/a finite number/);
    expect(() => loadModel(withNodes([]))).toThrow(ModelFormatError);
  });

  it("draws itself as Mermaid and Graphviz DOT, with each node's width once fitted", () => {
    const x = input();
    const g = new Graph(x, concat(x.cols(0, 2).pipe(new StandardScaler(), "scale"), x.col(3).abs()).pipe(new Ridge()));
    expect(g.toMermaid()).toBe(
      [
        "flowchart LR",
        '  n0["X"]',
        '  n1["columns 0,1"]',
        '  n2["scale: StandardScaler"]',
        '  n3["columns 3"]',
        '  n4["abs"]',
        '  n5["concat"]',
        '  n6["ridge: Ridge"]',
        "  n0 --> n1",
        "  n1 --> n2",
        "  n0 --> n3",
        "  n3 --> n4",
        "  n2 --> n5",
        "  n4 --> n5",
        "  n5 --> n6",
        "",
      ].join("\n"),
    );
    g.fit(X, [1, 2, 3]);
    expect(g.toMermaid()).toContain('n0["X [4]"]');
    expect(g.toMermaid()).toContain('n5["concat [3]"]');
    expect(g.toDot()).toContain('n2 [label="scale: StandardScaler [2]"];');
    expect(g.toDot()).toMatch(/^digraph pipeline \{\n {2}rankdir=LR;/);
  });
});
