import { InvalidArgumentError } from "commander";

// Parsers of option values: commander names the option and the value they refuse.

/** 1, 2, 3…: a version, a count of rows or attempts. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("It takes a whole number of at least 1.");
  return n;
}

/** 0, 1, 2…: rows to skip. */
export function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("It takes a whole number (0 or more).");
  return n;
}

/** Any number above 0: seconds. */
export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("It takes a number above 0.");
  return n;
}

/** a,b,c: column names. */
export function columnList(v: string): string[] {
  return v.split(",").map((c) => c.trim()).filter(Boolean);
}
