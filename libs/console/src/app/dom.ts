/** Elements built from data with textContent only: nothing a dataset or a job says is ever read as HTML. */
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === "number" ? String(c) : c);
  return el;
}

/** A column of a table: its heading, and how a row shows in it. */
export interface Column<T> {
  title: Child;
  cell: (row: T) => Child;
  numeric?: boolean;
}

export function table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = "none yet"): HTMLElement {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", {}, c.title)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map((c) => h("td", c.numeric ? { class: "num" } : {}, c.cell(row)))))),
  );
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h("a", { href }, text);
}

/** A name's last path segment: `projects/p/jobs/abc` → `abc`. */
export function lastSegment(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

export function when(d: Date | undefined): string {
  return d ? d.toISOString().replace("T", " ").slice(0, 19) : "";
}

export function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) (n /= 1000), i++;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function state(s: string): HTMLElement {
  return h("span", { class: `state-${s}` }, s);
}

export function fields(pairs: readonly [string, Child][]): HTMLElement {
  return h("dl", {}, ...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function number(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** A value as text (JSON unless a string), cut to `chars` with an ellipsis. */
export function clipped(value: unknown, chars = 80): string {
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}
