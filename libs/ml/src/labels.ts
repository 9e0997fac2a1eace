import { InvalidInputError } from "./errors.js";

/** y as given: numbers (regression targets or class ids) or strings (class names). */
export type LabelInput = ArrayLike<number> | readonly string[] | readonly (number | string)[];
export type ClassLabel = number | string;

/** Regression targets: finite numbers, one per row of X. */
export function toTargets(y: LabelInput, rows: number): Float64Array {
  if (y.length !== rows) throw new InvalidInputError(`y has ${y.length} values, X has ${rows} rows`, "LENGTH_MISMATCH");
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = Number(y[i]);
    if (!Number.isFinite(v)) throw new InvalidInputError(`y[${i}] is ${String(y[i])}; regression targets must be finite numbers`, "NON_FINITE_TARGET");
    out[i] = v;
  }
  return out;
}

/** Class labels → sorted distinct classes and each row's class index (sklearn's LabelEncoder order). */
export function encodeClasses(y: LabelInput, rows: number, options: { minClasses?: number } = {}): { classes: ClassLabel[]; index: Int32Array } {
  if (y.length !== rows) throw new InvalidInputError(`y has ${y.length} labels, X has ${rows} rows`, "LENGTH_MISMATCH");
  const values = Array.from(y as ArrayLike<ClassLabel>);
  const kinds = new Set(values.map((v) => typeof v));
  if (kinds.size > 1) throw new InvalidInputError("y mixes numbers and strings; use one kind of label", "MIXED_LABELS");
  for (const v of values) if (typeof v === "number" && !Number.isFinite(v)) throw new InvalidInputError(`y has the label ${v}`, "NON_FINITE_TARGET");
  const classes = [...new Set(values)].sort((a, b) => (typeof a === "number" ? (a as number) - (b as number) : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
  const min = options.minClasses ?? 2;
  if (classes.length < min) throw new InvalidInputError(`y has ${classes.length} class${classes.length === 1 ? "" : "es"}; a classifier needs at least ${min}`, "TOO_FEW_CLASSES");
  const lookup = new Map(classes.map((c, i) => [c, i]));
  return { classes, index: Int32Array.from(values, (v) => lookup.get(v)!) };
}

/** Class indices of known classes (partialFit batches); an unseen label is an error. */
export function indexOfClasses(y: LabelInput, rows: number, classes: ClassLabel[]): Int32Array {
  if (y.length !== rows) throw new InvalidInputError(`y has ${y.length} labels, X has ${rows} rows`, "LENGTH_MISMATCH");
  const lookup = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(Array.from(y as ArrayLike<ClassLabel>), (v, i) => {
    const k = lookup.get(v);
    if (k === undefined) throw new InvalidInputError(`y[${i}] is ${String(v)}, not one of the classes ${classes.join(", ")}`, "UNKNOWN_CLASS");
    return k;
  });
}
