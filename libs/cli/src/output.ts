/** How results reach the terminal: aligned tables for people, JSON for scripts. */
export interface Output {
  json: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export function printJson(o: Output, value: unknown): void {
  o.out.write(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v), 2) + "\n");
}

/** Left-aligned columns, two spaces apart; cells are turned into one-line text. */
export function printTable(o: Output, rows: Record<string, unknown>[], columns: string[]): void {
  const cell = (v: unknown) => {
    if (v === undefined || v === null) return "";
    if (v instanceof Date) return shortTime(v);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v).replace(/\s+/g, " ");
  };
  const grid = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => grid.reduce((widest, row) => Math.max(widest, row[i].length), 0));
  for (const row of grid) o.out.write(row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]))).join("  ") + "\n");
}

/** A time to the second, as tables show it: "2026-12-05T06:34:00Z" ("" for none). */
export function shortTime(d: Date | undefined): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : "";
}

export function printFields(o: Output, pairs: [string, unknown][]): void {
  const width = pairs.reduce((widest, [k]) => Math.max(widest, k.length), 0);
  for (const [k, v] of pairs) {
    const text = v instanceof Date ? v.toISOString() : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "");
    o.out.write(`${(k + ":").padEnd(width + 1)} ${text}\n`);
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
