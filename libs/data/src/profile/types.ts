/** What a profile says of one column (the store's ColumnProfile as plain data). */
export interface ColumnProfileData {
  name: string;
  /** The Arrow type, e.g. "Float64". */
  type: string;
  kind: ColumnKindName;
  /** Values present; a NaN counts as missing. */
  count: number;
  nulls: number;
  /** Numeric columns, over the values present (0 when there are none). */
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Numeric columns: the 0th to 100th percentiles, exact over `sampled` values (all, or a uniform sample). */
  percentiles: number[];
  sampled: number;
  /**
   * Distinct values and their counts, most frequent first: all of them when `valuesComplete`;
   * else a category's most frequent (see HeavyHitters: each count a lower bound within
   * count/1,000), a number's none.
   */
  values: ValueCountData[];
  valuesComplete: boolean;
  /** Exact when `valuesComplete`, else a lower bound. */
  distinct: number;
}

export type ColumnKindName = "numeric" | "categorical" | "other";

export interface ValueCountData {
  value: string;
  count: number;
}

export interface TableProfileData {
  rows: number;
  columns: ColumnProfileData[];
}
