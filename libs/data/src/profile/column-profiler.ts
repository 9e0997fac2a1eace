import { DataType, type Field, type Vector } from "apache-arrow";
import { percentilesOf, Reservoir, SAMPLE_SIZE } from "./sample.js";
import { HeavyHitters } from "./heavy-hitters.js";
import type { ColumnKindName, ColumnProfileData, ValueCountData } from "./types.js";

/**
 * Distinct values counted per column, at most. A category of more keeps its most frequent
 * ones by Space-Saving (see HeavyHitters); a number of more, none (its percentiles serve).
 */
export const MAX_TRACKED_VALUES = 1_000;
const MAX_VALUE_CHARS = 256;

export function columnKind(type: DataType): ColumnKindName {
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTimestamp(type)) return "numeric";
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isBool(type) || DataType.isDictionary(type)) return "categorical";
  return "other";
}

/** Counts, moments, a sample and value counts of one column, batch by batch, in one pass. */
export class ColumnProfiler {
  readonly kind: ColumnKindName;
  private count = 0;
  private nulls = 0;
  private min = Infinity;
  private max = -Infinity;
  // Welford's running mean and sum of squared deviations: stable where sum-of-squares is not.
  private mean = 0;
  private m2 = 0;
  private readonly sample: Reservoir | undefined;
  private readonly counts = new Map<number | string, number>();
  private complete = true;
  /** A category's counts once it has more than MAX_TRACKED_VALUES distinct values. */
  private heavy: HeavyHitters | undefined;

  constructor(
    private readonly field: Field,
    seed: number,
  ) {
    this.kind = columnKind(field.type);
    this.sample = this.kind === "numeric" ? new Reservoir(seed) : undefined;
  }

  add(vector: Vector): void {
    if (this.kind === "numeric") this.addNumbers(vector);
    else if (this.kind === "categorical") this.addCategories(vector);
    else {
      this.nulls += vector.nullCount;
      this.count += vector.length - vector.nullCount;
    }
  }

  finish(): ColumnProfileData {
    const counted = this.heavy ? this.heavy.lowerBounds() : [...this.counts];
    const values: ValueCountData[] = counted
      .sort((a, b) => b[1] - a[1])
      .map(([value, count]) => ({ value: typeof value === "number" ? String(value) : value, count }));
    const numeric = this.kind === "numeric" && this.count > 0;
    return {
      name: this.field.name,
      type: String(this.field.type),
      kind: this.kind,
      count: this.count,
      nulls: this.nulls,
      min: numeric ? this.min : 0,
      max: numeric ? this.max : 0,
      mean: numeric ? this.mean : 0,
      std: numeric ? Math.sqrt(this.m2 / this.count) : 0,
      percentiles: this.sample ? percentilesOf(this.sample.sorted()) : [],
      sampled: this.sample ? Math.min(this.count, SAMPLE_SIZE) : 0,
      values: this.kind === "other" ? [] : values,
      valuesComplete: this.kind !== "other" && this.complete,
      distinct: this.kind === "other" ? 0 : this.complete ? this.counts.size : Math.max(this.counts.size, MAX_TRACKED_VALUES + 1),
    };
  }

  private addNumbers(vector: Vector): void {
    const read = numberReader(vector);
    for (let i = 0; i < vector.length; i++) {
      const x = read(i);
      if (x === undefined || Number.isNaN(x)) {
        this.nulls++;
        continue;
      }
      this.count++;
      if (x < this.min) this.min = x;
      if (x > this.max) this.max = x;
      const delta = x - this.mean;
      this.mean += delta / this.count;
      this.m2 += delta * (x - this.mean);
      this.sample!.add(x);
      this.countValue(x);
    }
  }

  private addCategories(vector: Vector): void {
    for (let i = 0; i < vector.length; i++) {
      const v: unknown = vector.get(i);
      if (v === null || v === undefined) {
        this.nulls++;
        continue;
      }
      this.count++;
      const text = String(v);
      this.countValue(text.length > MAX_VALUE_CHARS ? text.slice(0, MAX_VALUE_CHARS) : text);
    }
  }

  private countValue(value: number | string): void {
    if (this.heavy) return this.heavy.add(value);
    if (!this.complete) return;
    const seen = this.counts.get(value);
    if (seen !== undefined) this.counts.set(value, seen + 1);
    else if (this.counts.size < MAX_TRACKED_VALUES) this.counts.set(value, 1);
    else {
      this.complete = false;
      // Numbers of many values compare by their percentiles: counts of some of them serve nothing.
      if (this.kind === "numeric") this.counts.clear();
      else {
        this.heavy = new HeavyHitters(this.counts);
        this.heavy.add(value);
      }
    }
  }
}

/** Reads row i of a numeric column as a number (undefined when null): typed arrays straight, the rest through get(). */
function numberReader(vector: Vector): (i: number) => number | undefined {
  const valid = vector.nullCount === 0 ? () => true : (i: number) => vector.isValid(i);
  if ((DataType.isFloat(vector.type) || DataType.isInt(vector.type)) && vector.data.length === 1) {
    const values = vector.toArray() as ArrayLike<number | bigint>;
    return (i) => (valid(i) ? Number(values[i]!) : undefined);
  }
  return (i) => {
    const v: unknown = vector.get(i);
    if (v === null || v === undefined) return undefined;
    return v instanceof Date ? v.getTime() : Number(v as number | bigint);
  };
}
