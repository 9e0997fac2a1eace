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

/** A time: ISO 8601 or epoch milliseconds. */
export function parseTime(flag: string): (text: string) => Date {
  return (text) => {
    const n = Number(text);
    const d = Number.isFinite(n) && text.trim() !== "" ? new Date(n) : new Date(text);
    if (Number.isNaN(d.getTime())) throw new Error(`${flag} takes an ISO 8601 time ("2026-01-31T12:00:00Z") or epoch milliseconds; got "${text}"`);
    return d;
  };
}

const AGE_UNITS_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A time in the past: an age ("30d", "12h", "90m", "2w", "45s") before now, or a time as parseTime reads it. */
export function parsePastTime(flag: string, now: () => Date = () => new Date()): (text: string) => Date {
  const time = parseTime(flag);
  return (text) => {
    const age = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
    if (!age) {
      try {
        return time(text);
      } catch {
        throw new Error(`${flag} takes an age ("30d", "12h", "90m", "2w") or a time (ISO 8601, epoch milliseconds); got "${text}"`);
      }
    }
    return new Date(now().getTime() - Number(age[1]) * AGE_UNITS_MS[age[2]!]!);
  };
}

/** How long something lasts: "90d", "12h", "2w", "30m", "45s", or "never" (undefined). */
export function parseLifetime(flag: string): (text: string) => number | undefined {
  return (text) => {
    if (text.trim() === "never") return undefined;
    const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
    if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError(`${flag} takes a length of time ("90d", "12h", "2w", "30m", "45s") or "never".`);
    return Number(m[1]) * AGE_UNITS_MS[m[2]!]!;
  };
}
