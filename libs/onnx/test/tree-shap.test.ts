import { InferenceSession, Tensor } from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { attr, linearRegressorOnnx, NotTreeEnsembleError, OnnxGraphBuilder, OnnxWorkerPool, withFloatOutputs, readTreeEnsemble, treeColumns, treeOutputs, treeShap, treeSums, type TreeReading } from "../src/index.js";
import { randomRows, seededRandom } from "./helpers.js";

interface RandomTree {
  feature: number[];
  threshold: number[];
  mode: string[];
  yes: number[];
  no: number[];
  /** [node][output] leaf weights. */
  value: number[][];
}

/** A random tree of splits on `width` features, at most `depth` deep, with `outputs` weights at each leaf. */
function randomTree(next: () => number, width: number, depth: number, outputs: number): RandomTree {
  const t: RandomTree = { feature: [], threshold: [], mode: [], yes: [], no: [], value: [] };
  const grow = (level: number): number => {
    const id = t.feature.length;
    t.feature.push(0);
    t.threshold.push(0);
    t.mode.push("LEAF");
    t.yes.push(0);
    t.no.push(0);
    t.value.push(Array.from({ length: outputs }, () => Math.round((next() * 2 - 1) * 1000) / 1000));
    if (level === depth || (level > 1 && next() < 0.2)) return id;
    t.feature[id] = Math.floor(next() * width);
    t.threshold[id] = Math.fround(next() * 3 - 1.5);
    t.mode[id] = ["BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE"][Math.floor(next() * 5)]!;
    t.yes[id] = grow(level + 1);
    t.no[id] = grow(level + 1);
    return id;
  };
  grow(0);
  return t;
}

function nodeAttributes(trees: RandomTree[]) {
  const all = trees.flatMap((t, tree) => t.feature.map((f, node) => ({ t, tree, node, f })));
  return {
    nodes_treeids: attr.ints(all.map((n) => n.tree)),
    nodes_nodeids: attr.ints(all.map((n) => n.node)),
    nodes_featureids: attr.ints(all.map((n) => n.f)),
    nodes_modes: attr.strings(all.map((n) => n.t.mode[n.node]!)),
    nodes_values: attr.floats(all.map((n) => n.t.threshold[n.node]!)),
    nodes_truenodeids: attr.ints(all.map((n) => n.t.yes[n.node]!)),
    nodes_falsenodeids: attr.ints(all.map((n) => n.t.no[n.node]!)),
  };
}

/** Leaf weights as (tree, node, id, weight); `ids` picks which of a leaf's outputs go to which id. */
function leafLists(trees: RandomTree[], ids: number[]) {
  const rows = trees.flatMap((t, tree) => t.mode.flatMap((m, node) => (m === "LEAF" ? ids.map((id, o) => ({ tree, node, id, w: t.value[node]![o]! })) : [])));
  return { treeIds: rows.map((r) => r.tree), nodeIds: rows.map((r) => r.node), ids: rows.map((r) => r.id), weights: rows.map((r) => r.w) };
}

interface Case {
  name: string;
  bytes: Uint8Array;
  output: string;
  width: number;
  link: TreeReading["link"];
}

function regressor(seed: number, options: { targets: number; aggregate?: string; post?: string; base?: number[] }): Case {
  const next = seededRandom(seed);
  const width = 5;
  const trees = Array.from({ length: 6 }, () => randomTree(next, width, 5, options.targets));
  const leaves = leafLists(trees, [...Array(options.targets).keys()]);
  const g = new OnnxGraphBuilder({ opset: 17 })
    .input("X", "float32", ["N", width])
    .output("Y", "float32", ["N", options.targets])
    .node(
      "TreeEnsembleRegressor",
      ["X"],
      ["Y"],
      {
        ...nodeAttributes(trees),
        target_treeids: attr.ints(leaves.treeIds),
        target_nodeids: attr.ints(leaves.nodeIds),
        target_ids: attr.ints(leaves.ids),
        target_weights: attr.floats(leaves.weights),
        n_targets: attr.int(options.targets),
        aggregate_function: attr.string(options.aggregate ?? "SUM"),
        post_transform: attr.string(options.post ?? "NONE"),
        ...(options.base ? { base_values: attr.floats(options.base) } : {}),
      },
      "ai.onnx.ml",
    );
  const link = options.post === "SOFTMAX" ? "softmax" : "identity";
  return { name: `regressor ${JSON.stringify(options)}`, bytes: g.toBytes(), output: "Y", width, link };
}

function classifier(seed: number, classes: number, post: string, ids: number[]): Case {
  const next = seededRandom(seed);
  const width = 6;
  const trees = Array.from({ length: 5 }, () => randomTree(next, width, 6, ids.length));
  const leaves = leafLists(trees, ids);
  const g = new OnnxGraphBuilder({ opset: 17 })
    .input("X", "float32", ["N", width])
    .output("label", "int64", ["N"])
    .output("probabilities", "float32", ["N", classes])
    .node("Cast", ["X"], ["X_float"], { to: attr.int(1) })
    .node(
      "TreeEnsembleClassifier",
      ["X_float"],
      ["label", "scores"],
      {
        ...nodeAttributes(trees),
        class_treeids: attr.ints(leaves.treeIds),
        class_nodeids: attr.ints(leaves.nodeIds),
        class_ids: attr.ints(leaves.ids),
        class_weights: attr.floats(leaves.weights),
        classlabels_int64s: attr.ints([...Array(classes).keys()]),
        post_transform: attr.string(post),
      },
      "ai.onnx.ml",
    )
    .node("Identity", ["scores"], ["probabilities"]);
  return { name: `classifier of ${classes} classes, ${post}, weights for classes ${ids}`, bytes: g.toBytes(), output: "probabilities", width, link: post === "NONE" ? "identity" : post === "LOGISTIC" ? "logistic" : "softmax" };
}

/** Kiln's boosted binary classifier: one margin m from a regressor, then [1 − sigmoid(m), sigmoid(m)]. */
function sigmoidPair(seed: number): Case {
  const next = seededRandom(seed);
  const width = 4;
  const trees = Array.from({ length: 8 }, () => randomTree(next, width, 4, 1));
  const leaves = leafLists(trees, [0]);
  const g = new OnnxGraphBuilder({ opset: 17 })
    .input("X", "float32", ["N", width])
    .output("probabilities", "float32", ["N", 2])
    .initializer("one", Float32Array.of(1), [1])
    .node(
      "TreeEnsembleRegressor",
      ["X"],
      ["raw"],
      {
        ...nodeAttributes(trees),
        target_treeids: attr.ints(leaves.treeIds),
        target_nodeids: attr.ints(leaves.nodeIds),
        target_ids: attr.ints(leaves.ids),
        target_weights: attr.floats(leaves.weights),
        n_targets: attr.int(1),
        base_values: attr.floats([0.3]),
      },
      "ai.onnx.ml",
    )
    .node("Sigmoid", ["raw"], ["p1"])
    .node("Sub", ["one", "p1"], ["p0"])
    .node("Concat", ["p0", "p1"], ["probabilities"], { axis: attr.int(1) });
  return { name: "Kiln's boosted binary classifier", bytes: g.toBytes(), output: "probabilities", width, link: "logistic" };
}

const CASES: Case[] = [
  regressor(1, { targets: 1 }),
  regressor(2, { targets: 1, aggregate: "AVERAGE", base: [2.5] }),
  regressor(3, { targets: 3, post: "SOFTMAX", base: [0.1, -0.2, 0.3] }),
  classifier(4, 3, "NONE", [0, 1, 2]),
  classifier(5, 2, "NONE", [0, 1]),
  classifier(6, 2, "LOGISTIC", [1]), // onnxruntime 1.30 gives the class without weights sigmoid(0)
  classifier(9, 2, "NONE", [1]),
  classifier(7, 4, "SOFTMAX", [0, 1, 2, 3]),
  sigmoidPair(8),
];

async function runModel(bytes: Uint8Array, output: string, data: Float32Array, count: number, width: number): Promise<Float32Array> {
  const session = await InferenceSession.create(bytes);
  const out = await session.run({ X: new Tensor("float32", data, [count, width]) }, [output]);
  return out[output]!.data as Float32Array;
}

/** Shapley values by brute force: every coalition's sum, averaged over the background, weighted as Shapley's formula says. */
function exactShapley(reading: TreeReading, x: Float64Array, background: Float64Array, width: number): Float64Array {
  const k = reading.ensemble.targets;
  const b = background.length / width;
  const worth = (mask: number) => {
    const hybrid = background.slice();
    for (let r = 0; r < b; r++) for (let j = 0; j < width; j++) if (mask & (1 << j)) hybrid[r * width + j] = x[j]!;
    const sums = treeSums(reading.ensemble, hybrid, b, width);
    return Array.from({ length: k }, (_, t) => sums.filter((_, at) => at % k === t).reduce((s, v) => s + v, 0) / b);
  };
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  const values = new Float64Array(width * k);
  const worths = Array.from({ length: 2 ** width }, (_, mask) => worth(mask));
  for (let mask = 0; mask < 2 ** width; mask++) {
    const size = [...Array(width).keys()].filter((j) => mask & (1 << j)).length;
    for (let j = 0; j < width; j++) {
      if (mask & (1 << j)) continue;
      const w = (fact(size) * fact(width - size - 1)) / fact(width);
      for (let t = 0; t < k; t++) values[j * k + t]! += w * (worths[mask | (1 << j)]![t]! - worths[mask]![t]!);
    }
  }
  return values;
}

describe("tree ensembles read from ONNX, and their Shapley values (Tree SHAP)", () => {
  for (const c of CASES) {
    it(`${c.name}: the reading gives onnxruntime's outputs, and Tree SHAP the brute-force Shapley values`, async () => {
      const reading = readTreeEnsemble(c.bytes, "X", c.output);
      expect(reading.link).toBe(c.link);
      const { data } = randomRows(10, 200, c.width);
      const rows = Float64Array.from(data);
      const ort = await runModel(c.bytes, c.output, data, 200, c.width);
      const mine = treeOutputs(reading, treeColumns(reading, treeSums(reading.ensemble, rows, 200, c.width)));
      expect(mine.length).toBe(ort.length);
      mine.forEach((v, i) => expect(Math.abs(v - ort[i]!)).toBeLessThan(1e-5));

      const background = rows.subarray(0, 30 * c.width);
      const x = rows.subarray(100 * c.width, 104 * c.width);
      const { values, sums } = treeShap(reading.ensemble, x, 4, background, c.width);
      const k = reading.ensemble.targets;
      const base = treeSums(reading.ensemble, background, 30, c.width);
      for (let i = 0; i < 4; i++) {
        const exact = exactShapley(reading, x.subarray(i * c.width, (i + 1) * c.width), background, c.width);
        const got = values.subarray(i * c.width * k, (i + 1) * c.width * k);
        got.forEach((v, at) => expect(Math.abs(v - exact[at]!)).toBeLessThan(1e-9));
        for (let t = 0; t < k; t++) {
          // additivity: the background's mean sum plus the values is the row's sum
          const mean = base.filter((_, at) => at % k === t).reduce((s, v) => s + v, 0) / 30;
          const total = [...Array(c.width).keys()].reduce((s, j) => s + got[j * k + t]!, mean);
          expect(Math.abs(total - sums[i * k + t]!)).toBeLessThan(1e-9);
        }
      }
      // some feature mattered, so the comparison tested something
      expect(values.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    });
  }

  it("refuses models whose output is not a tree ensemble's, saying what it found", () => {
    expect(() => readTreeEnsemble(linearRegressorOnnx([1, 2], 0.5), "X", "variable")).toThrow(NotTreeEnsembleError);
    expect(() => readTreeEnsemble(linearRegressorOnnx([1, 2], 0.5), "X", "variable")).toThrow(/comes from an? \w+ node, not a tree ensemble's scores/);
    expect(() => readTreeEnsemble(CASES[0]!.bytes, "other", "Y")).toThrow(/does not come from the model's input "other"/);
  });

  describe("behind per-feature preprocessing (a scaler, an imputer, a choice of columns)", () => {
    /** Trees over 3 of 4 input columns, each scaled, the missing ones imputed, through `prep` (default the scaler and imputer). */
    function preprocessed(prep?: (g: OnnxGraphBuilder) => void): Uint8Array {
      const next = seededRandom(21);
      const trees = Array.from({ length: 6 }, () => randomTree(next, 3, 5, 1));
      const leaves = leafLists(trees, [0]);
      const g = new OnnxGraphBuilder({ opset: 17 }).input("X", "float32", ["N", 4]).output("Y", "float32", ["N", 1]);
      if (prep) prep(g);
      else {
        g.initializer("kept", BigInt64Array.of(3n, 0n, 2n), [3])
          .initializer("mean", Float32Array.of(0.5, -0.25, 0.1), [3])
          .initializer("scale", Float32Array.of(2, 0.5, 1.5), [1, 3])
          .initializer("fill", Float32Array.of(0, 1, -1), [3])
          .node("Gather", ["X", "kept"], ["picked"], { axis: attr.int(1) })
          .node("IsNaN", ["picked"], ["missing"])
          .node("Where", ["missing", "fill", "picked"], ["imputed"])
          .node("Sub", ["imputed", "mean"], ["centered"])
          .node("Div", ["centered", "scale"], ["features"]);
      }
      g.node(
        "TreeEnsembleRegressor",
        ["features"],
        ["Y"],
        { ...nodeAttributes(trees), target_treeids: attr.ints(leaves.treeIds), target_nodeids: attr.ints(leaves.nodeIds), target_ids: attr.ints(leaves.ids), target_weights: attr.floats(leaves.weights), n_targets: attr.int(1) },
        "ai.onnx.ml",
      );
      return g.toBytes();
    }

    it("reads which input column each of the trees' features is, and Tree SHAP on the preprocessed rows gives the model's exact Shapley values", async () => {
      const bytes = preprocessed();
      const reading = readTreeEnsemble(bytes, "X", "Y");
      expect(reading.preprocessed).toEqual({ tensor: "features", columns: [3, 0, 2] });
      const { data } = randomRows(31, 40, 4);
      const session = await InferenceSession.create(withFloatOutputs(bytes, ["features"]));
      const run = async (rows: Float32Array, n: number) => {
        const out = await session.run({ X: new Tensor("float32", rows, [n, 4]) }, ["Y", "features"]);
        return { y: out.Y!.data as Float32Array, features: Float64Array.from(out.features!.data as Float32Array) };
      };
      const background = data.slice(0, 20 * 4);
      const x = data.slice(30 * 4, 33 * 4);
      const { features: bf } = await run(background, 20);
      const { features: xf } = await run(x, 3);
      const { values } = treeShap(reading.ensemble, xf, 3, bf, 3);
      // Brute force over the 4 input features, the whole model run on every coalition's rows.
      const worth = async (row: Float32Array, mask: number) => {
        const hybrid = background.slice();
        for (let r = 0; r < 20; r++) for (let j = 0; j < 4; j++) if (mask & (1 << j)) hybrid[r * 4 + j] = row[j]!;
        return (await run(hybrid, 20)).y.reduce((s, v) => s + v, 0) / 20;
      };
      const weights = [1 / 4, 1 / 12, 1 / 12, 1 / 4]; // |S|!(3−|S|)!/4!
      for (let i = 0; i < 3; i++) {
        const row = x.slice(i * 4, (i + 1) * 4);
        const worths = await Promise.all(Array.from({ length: 16 }, (_, mask) => worth(row, mask)));
        const exact = [0, 0, 0, 0];
        for (let mask = 0; mask < 16; mask++) {
          const size = [0, 1, 2, 3].filter((j) => mask & (1 << j)).length;
          for (let j = 0; j < 4; j++) if (!(mask & (1 << j))) exact[j]! += weights[size]! * (worths[mask | (1 << j)]! - worths[mask]!);
        }
        // The trees' feature t is input column [3, 0, 2][t]; column 1 feeds no tree.
        const mine = [values[i * 3 + 1]!, 0, values[i * 3 + 2]!, values[i * 3 + 0]!];
        mine.forEach((v, j) => expect(Math.abs(v - exact[j]!)).toBeLessThan(1e-5));
      }
      expect(values.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    });

    it("refuses preprocessing that mixes features or reads one twice", () => {
      const mixing = preprocessed((g) => g.initializer("w", Float32Array.from({ length: 12 }, (_, i) => i), [4, 3]).node("MatMul", ["X", "w"], ["features"]));
      expect(() => readTreeEnsemble(mixing, "X", "Y")).toThrow(/through a MatMul node, which mixes or multiplies its features/);
      const twice = preprocessed((g) => g.initializer("kept", BigInt64Array.of(0n, 0n, 1n), [3]).node("Gather", ["X", "kept"], ["features"], { axis: attr.int(1) }));
      expect(() => readTreeEnsemble(twice, "X", "Y")).toThrow(/reads some of the model's features more than once/);
      const rowWise = preprocessed((g) => g.initializer("kept", BigInt64Array.of(0n, 1n, 2n), [3]).initializer("m", Float32Array.from({ length: 6 }, () => 1), [2, 3]).node("Gather", ["X", "kept"], ["picked"], { axis: attr.int(1) }).node("Mul", ["picked", "m"], ["features"]));
      expect(() => readTreeEnsemble(rowWise, "X", "Y")).toThrow(/not one value a column/);
    });
  });

  describe("on the worker pool", () => {
    const pool = new OnnxWorkerPool({ size: 2 });
    afterAll(() => pool.close());

    it("reads the ensemble and computes the values on a worker, as in-process", async () => {
      const c = CASES[3]!;
      const trees = await pool.readTrees(c.bytes, "X", c.output);
      expect(trees.ensemble.feature.buffer).toBeInstanceOf(SharedArrayBuffer);
      const here = readTreeEnsemble(c.bytes, "X", c.output);
      expect({ ...trees, ensemble: undefined }).toEqual({ ...here, ensemble: undefined });
      expect(Array.from(trees.ensemble.leaf)).toEqual(Array.from(here.ensemble.leaf));
      const { data } = randomRows(12, 50, c.width);
      const rows = Float64Array.from(data);
      const background = rows.subarray(0, 10 * c.width);
      const [a, b] = await Promise.all([pool.treeShap(trees.ensemble, rows.subarray(0, 25 * c.width), 25, background, c.width), pool.treeShap(trees.ensemble, rows.subarray(25 * c.width), 25, background, c.width)]);
      const whole = treeShap(here.ensemble, rows, 50, background, c.width);
      expect([...a.values, ...b.values]).toEqual([...whole.values]);
      expect([...a.sums, ...b.sums]).toEqual([...whole.sums]);
    });

    it("says why a model is no tree ensemble", async () => {
      await expect(pool.readTrees(linearRegressorOnnx([1, 2], 0.5), "X", "variable")).rejects.toThrow(NotTreeEnsembleError);
    });
  });
});
