import { create } from "@bufbuild/protobuf";
import { Random } from "@kiln/ml";
import { JobInputSchema, type JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DatasetSelectionSchema, type DatasetSelection } from "@kiln/proto/kiln/store/v1/store_pb";
import { datasetSelection, trainingBaseline, type ModelVersionInfo } from "@kiln/sdk";
import { describeInput, inputName, readInput } from "./data.js";
import { featureRows, type MatrixInput } from "./feature-matrix.js";
import { isNumericType, planFeatures } from "./features.js";
import type { ExecutorDeps } from "./deps.js";
import { checkStopped } from "./job-context.js";
import { failedPrecondition } from "./job-failure.js";

/** Rows standing for "what is usual", to compare a row's features with. */
export interface Background {
  /** [rows, features], row-major. */
  matrix: Float64Array;
  rows: number;
  /** Where they were sampled from. */
  selection: DatasetSelection;
  /** How messages name it: "the background sales where …", "the background the local y". */
  shown: string;
}

/**
 * Up to `size` rows of `source`, sampled uniformly (seeded): of the columns named
 * `features`, or without names of all its numeric columns (for requests whose features are
 * known only then: see backgroundColumns).
 */
export async function sampleBackground(
  deps: ExecutorDeps,
  source: JobInput,
  version: ModelVersionInfo,
  features: string[] | undefined,
  size: number,
  randomState: number,
  signal?: AbortSignal,
): Promise<Background> {
  const shown = `the background ${inputName(source, "y", true)}`;
  const described = await describeInput(deps, source, "y");
  // Columns the background names are the ones it offers.
  const columns = source.columns.length ? described.columns.filter((c) => source.columns.includes(c.name)) : described.columns;
  const names = features ?? columns.filter((c) => isNumericType(c.type)).map((c) => c.name);
  for (const name of names) {
    if (!columns.some((c) => c.name === name)) throw failedPrecondition("COLUMN_MISSING", `${shown} has no column "${name}", a feature of ${version.name} (it has ${columns.map((c) => c.name).join(", ")})`);
  }
  const width = names.length;
  // The columns as one float64 matrix, checked and converted as a model's input would be.
  const matrix = { name: "X", kind: "tensor", elementType: "float64", shape: ["N", width], type: `tensor(float64)[N,${width}]` };
  const own: MatrixInput = { name: "X", type: "float64", features: names, plan: planFeatures([matrix], columns, names) };
  const sample = new Float64Array(size * width);
  const random = new Random(randomState);
  let seen = 0;
  for await (const batch of readInput(deps, source, names)) {
    if (signal) checkStopped(signal);
    const rows = featureRows(own, batch);
    // Reservoir sampling: every row read so far is in the sample with the same chance.
    for (let i = 0; i < batch.numRows; i++, seen++) {
      const slot = seen < size ? seen : random.int(seen + 1);
      if (slot < size) sample.set(rows.subarray(i * width, (i + 1) * width), slot * width);
    }
  }
  if (seen === 0) throw failedPrecondition("NO_ROWS", `${shown} has no rows`);
  const rows = Math.min(seen, size);
  const selection = create(DatasetSelectionSchema, { name: source.dataset, version: source.version, columns: names, filter: source.filter });
  return { matrix: sample.subarray(0, rows * width), rows, selection, shown };
}

/**
 * A background's rows of the model's `width` features: the columns named `features`, or
 * without names (a positional request to a model that learned none) all of them in order,
 * when they are as many as the model takes.
 */
export function backgroundColumns(background: Background, features: string[] | undefined, width: number, version: ModelVersionInfo): Float64Array {
  const { shown, selection } = background;
  const have = selection.columns;
  if (!features) {
    if (have.length !== width) throw failedPrecondition("FEATURE_COUNT", `${shown} has ${have.length} numeric columns (${have.join(", ")}) and ${version.name} takes ${width} features by position: name a background of just those`);
    return background.matrix;
  }
  const at = features.map((name) => {
    const i = have.indexOf(name);
    if (i < 0) throw failedPrecondition("COLUMN_MISSING", `${shown} has no column "${name}", a feature of ${version.name} (it has ${have.join(", ")})`);
    return i;
  });
  if (at.every((i, j) => i === j) && have.length === width) return background.matrix;
  const out = new Float64Array(background.rows * width);
  for (let r = 0; r < background.rows; r++) at.forEach((i, j) => (out[r * width + j] = background.matrix[r * have.length + i]!));
  return out;
}

/** The stored X the version was fitted on, `project` being "projects/{p}" (NO_TRAINING_DATA when it records none). */
export async function trainingData(deps: ExecutorDeps, project: string, version: ModelVersionInfo): Promise<JobInput> {
  const selection = datasetSelection(project, await trainingBaseline(deps.kiln.runtime, version));
  return create(JobInputSchema, { dataset: selection.name, version: selection.version, filter: selection.filter });
}
