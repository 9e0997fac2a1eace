import { invalidArgument, printable, type Json } from "@kiln/core";

/**
 * MLflow's search filters: comparisons joined by AND, each `<type>.<key> <op> <value>`
 * (`metrics.rmse < 0.5`, `params.model = 'tree'`, ``tags.`my tag` LIKE 'a%'``,
 * `attributes.status = 'FINISHED'`, or an attribute by its bare name). Traces are searched
 * by their metadata, spans (`span.name`) and assessments (`feedback.relevance`) too.
 */
export type SearchKind = "metric" | "param" | "tag" | "attribute" | "metadata" | "span" | "feedback" | "expectation";
type Op = "=" | "!=" | ">" | ">=" | "<" | "<=" | "LIKE" | "ILIKE" | "RLIKE" | "IN" | "NOT IN";

export interface Clause {
  kind: SearchKind;
  key: string;
  op: Op;
  value: string | number | string[];
}

const KINDS: Record<string, SearchKind> = {
  metric: "metric",
  metrics: "metric",
  parameter: "param",
  parameters: "param",
  param: "param",
  params: "param",
  tag: "tag",
  tags: "tag",
  attribute: "attribute",
  attributes: "attribute",
  attr: "attribute",
  run: "attribute",
  trace: "attribute",
  metadata: "metadata",
  request_metadata: "metadata",
  span: "span",
  feedback: "feedback",
  expectation: "expectation",
};

/** The kinds of key each search takes beside attributes and tags. */
const DATA_KINDS: Partial<Record<Searched, SearchKind[]>> = { runs: ["metric", "param"], models: ["metric", "param"], traces: ["metadata", "span", "feedback", "expectation"] };
/** What a span is searched by: `content` is its inputs, outputs and attributes as text (MLflow's `trace.text`). */
export const SPAN_KEYS = ["name", "type", "status", "content"];

const ATTRIBUTE_ALIASES: Record<string, string> = { created: "start_time", Created: "start_time", "run name": "run_name", "Run name": "run_name", "Run Name": "run_name" };
/** "models" are MLflow 3's logged models; "registered_models" and "model_versions" its model registry's. */
export type Searched = "runs" | "experiments" | "models" | "registered_models" | "model_versions" | "traces";

const NUMERIC_ATTRIBUTES: Record<Searched, string[]> = {
  runs: ["start_time", "end_time"],
  experiments: ["creation_time", "last_update_time"],
  models: ["creation_timestamp", "last_updated_timestamp"],
  registered_models: ["creation_timestamp", "last_updated_timestamp"],
  model_versions: ["version_number", "creation_timestamp", "last_updated_timestamp"],
  traces: ["timestamp_ms", "execution_time_ms", "end_time_ms"],
};
const TEXT_ATTRIBUTES: Record<Searched, string[]> = {
  runs: ["run_id", "run_name", "status", "user_id", "artifact_uri"],
  experiments: ["name"],
  models: ["name", "model_id", "status", "source_run_id", "model_type"],
  registered_models: ["name"],
  model_versions: ["name", "run_id", "source_path", "current_stage", "user_id"],
  traces: ["request_id", "trace_id", "status", "state", "client_request_id", "name", "run_id", "experiment_id"],
};
const MODEL_ALIASES: Record<string, string> = { creation_time: "creation_timestamp", last_updated_time: "last_updated_timestamp" };
const TRACE_ALIASES: Record<string, string> = { timestamp: "timestamp_ms", execution_time: "execution_time_ms", end_time: "end_time_ms" };
const NUMBER_OPS: Op[] = ["=", "!=", ">", ">=", "<", "<="];
const TEXT_OPS: Op[] = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"];

type Token = { t: "word" | "quoted" | "string" | "number" | "op" | "punct"; v: string; at: number };

function bad(text: string, why: string) {
  return invalidArgument("INVALID_FILTER", `Invalid filter '${printable(text).slice(0, 200)}': ${why}`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'" || c === '"' || c === "`") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw bad(text, `a quote opened at ${at} is not closed`);
      tokens.push({ t: c === "'" ? "string" : c === "`" ? "quoted" : "string", v: text.slice(i + 1, end), at });
      // A double-quoted text right after "type." is a key, not a value.
      if (c === '"' && tokens.length > 1 && text[at - 1] === ".") tokens[tokens.length - 1]!.t = "quoted";
      i = end + 1;
      continue;
    }
    const op = /^(>=|<=|!=|=|>|<)/.exec(text.slice(i));
    if (op) {
      tokens.push({ t: "op", v: op[1]!, at });
      i += op[1]!.length;
      continue;
    }
    if (c === "(" || c === ")" || c === "," || c === ".") {
      tokens.push({ t: "punct", v: c, at });
      i++;
      continue;
    }
    const num = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i));
    if (num && (tokens.length === 0 || tokens[tokens.length - 1]!.t === "op")) {
      tokens.push({ t: "number", v: num[0], at });
      i += num[0].length;
      continue;
    }
    const word = /^[\w\-/:]+/.exec(text.slice(i));
    if (!word) throw bad(text, `unexpected "${c}" at ${at}`);
    tokens.push({ t: "word", v: word[0], at });
    i += word[0].length;
  }
  return tokens;
}

/** Parses a search's filter into its AND-ed clauses (none for an empty filter). */
export function parseSearchFilter(text: string, what: Searched): Clause[] {
  const tokens = tokenize(text);
  const clauses: Clause[] = [];
  let i = 0;
  const next = () => tokens[i++];
  const peekWord = (w: string) => tokens[i]?.t === "word" && tokens[i]!.v.toUpperCase() === w;
  while (i < tokens.length) {
    if (clauses.length) {
      if (!peekWord("AND")) throw bad(text, `clauses are joined by AND only (at ${tokens[i]!.at})`);
      i++;
    }
    const first = next();
    if (!first || (first.t !== "word" && first.t !== "quoted")) throw bad(text, "expected an identifier such as metrics.rmse");
    let kind: SearchKind = "attribute";
    let key = first.v;
    if (tokens[i]?.v === "." && tokens[i]!.t === "punct") {
      const type = KINDS[first.v.toLowerCase()];
      if (!type) throw bad(text, `"${first.v}" is not metrics, params, tags or attributes`);
      i++;
      const k = next();
      if (!k || (k.t !== "word" && k.t !== "quoted")) throw bad(text, `expected a key after "${first.v}."`);
      kind = type;
      key = k.v;
      // Dotted keys (metrics.val.loss) run on in words.
      while (k.t === "word" && tokens[i]?.v === "." && tokens[i + 1]?.t === "word") {
        key += "." + tokens[i + 1]!.v;
        i += 2;
      }
    }
    if (kind !== "attribute" && kind !== "tag" && !DATA_KINDS[what]?.includes(kind)) throw bad(text, `${what.replace("_", " ")} are searched by ${[...TEXT_ATTRIBUTES[what], ...NUMERIC_ATTRIBUTES[what]].join(", ")}, tags${DATA_KINDS[what] ? `, ${DATA_KINDS[what].join(", ")}` : ""}`);
    // As the filter names it, for messages: metrics.acc, not acc.
    const named = kind === "attribute" ? key : `${first.v}.${key}`;
    if (kind === "attribute") key = aliasesOf(what)[key] ?? key;
    // MLflow's `trace.text LIKE '%…%'` searches the spans' content.
    if (what === "traces" && kind === "attribute" && key === "text") [kind, key] = ["span", "content"];
    let opToken = next();
    if (!opToken) throw bad(text, `expected a comparison after ${named}`);
    let op: Op;
    if (opToken.t === "op") op = opToken.v as Op;
    else if (opToken.t === "word" && ["LIKE", "ILIKE", "RLIKE", "IN"].includes(opToken.v.toUpperCase())) op = opToken.v.toUpperCase() as Op;
    else if (opToken.t === "word" && opToken.v.toUpperCase() === "NOT" && peekWord("IN")) {
      i++;
      op = "NOT IN";
    } else throw bad(text, `"${opToken.v}" is not a comparison`);
    let value: Clause["value"];
    if (op === "IN" || op === "NOT IN") {
      if (next()?.v !== "(") throw bad(text, `${op} takes a list: ('a', 'b')`);
      const list: string[] = [];
      for (;;) {
        const v = next();
        if (!v || v.t !== "string") throw bad(text, `${op} lists quoted strings`);
        list.push(v.v);
        const sep = next();
        if (sep?.v === ")") break;
        if (sep?.v !== ",") throw bad(text, `${op}'s list is closed by ")"`);
      }
      value = list;
    } else {
      opToken = next()!;
      if (!opToken || (opToken.t !== "string" && opToken.t !== "number")) throw bad(text, `expected a value after ${named} ${op}`);
      value = opToken.t === "number" ? Number(opToken.v) : opToken.v;
    }
    clauses.push(checked(text, what, { kind, key, op, value }));
  }
  return clauses;
}

function checked(text: string, what: Searched, c: Clause): Clause {
  const numeric = c.kind === "metric" || (c.kind === "attribute" && NUMERIC_ATTRIBUTES[what].includes(c.key));
  if (c.kind === "attribute" && !numeric && !TEXT_ATTRIBUTES[what].includes(c.key)) {
    throw bad(text, `"${c.key}" is not an attribute one can search ${what} by (${[...TEXT_ATTRIBUTES[what], ...NUMERIC_ATTRIBUTES[what]].join(", ")})`);
  }
  if (c.kind === "span" && !SPAN_KEYS.includes(c.key)) throw bad(text, `spans are searched by ${SPAN_KEYS.join(", ")}, not "${c.key}"`);
  const ops = numeric ? NUMBER_OPS : what === "traces" ? [...TEXT_OPS, "RLIKE" as const] : TEXT_OPS;
  if (!ops.includes(c.op)) throw bad(text, `${c.kind === "attribute" ? c.key : `${c.kind}s.${c.key}`} is compared with ${ops.join(" ")}, not ${c.op}`);
  if (numeric && typeof c.value !== "number") throw bad(text, `${c.key} is compared with a number`);
  if (c.op === "RLIKE") {
    try {
      regexOf(String(c.value));
    } catch {
      throw bad(text, `${printable(String(c.value)).slice(0, 80)} is not a regular expression`);
    }
  }
  if (!numeric && typeof c.value === "number") throw bad(text, `${c.key} is compared with a quoted string`);
  return c;
}

/** What a clause reads of one run or experiment: undefined where it has no such key. */
export type Lookup = (kind: SearchKind, key: string) => string | number | undefined;

export function matchesAll(clauses: readonly Clause[], lookup: Lookup): boolean {
  return clauses.every((c) => matches(c, lookup(c.kind, c.key)));
}

function matches(c: Clause, have: string | number | undefined): boolean {
  if (have === undefined) return false;
  const want = c.value;
  switch (c.op) {
    case "=":
      return typeof want === "number" ? Number(have) === want : String(have) === want;
    case "!=":
      return typeof want === "number" ? Number(have) !== want : String(have) !== want;
    case ">":
      return Number(have) > (want as number);
    case ">=":
      return Number(have) >= (want as number);
    case "<":
      return Number(have) < (want as number);
    case "<=":
      return Number(have) <= (want as number);
    case "LIKE":
      return likePattern(want as string, "").test(String(have));
    case "ILIKE":
      return likePattern(want as string, "i").test(String(have));
    case "RLIKE":
      return regexOf(want as string).test(String(have));
    case "IN":
      return (want as string[]).includes(String(have));
    case "NOT IN":
      return !(want as string[]).includes(String(have));
  }
}

/** RLIKE's pattern: a regular expression found anywhere in the text (checked when parsed). */
function regexOf(pattern: string): RegExp {
  return new RegExp(pattern, "s");
}

/** SQL's LIKE: % any run of characters, _ one character. */
function likePattern(pattern: string, flags: string): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".");
  return new RegExp(`^${body}$`, `s${flags}`);
}

export interface OrderKey {
  kind: SearchKind;
  key: string;
  descending: boolean;
}

function parseOrderKey(entry: Json, what: Searched): OrderKey {
  if (typeof entry !== "string") throw invalidArgument("INVALID_ORDER_BY", `order_by entries are strings such as "metrics.rmse DESC"`);
  const m = /^\s*(.+?)(?:\s+(ASC|DESC))?\s*$/i.exec(entry);
  if (!m) throw invalidArgument("INVALID_ORDER_BY", `Invalid order_by clause '${printable(entry)}'`);
  const descending = m[2]?.toUpperCase() === "DESC";
  const id = /^(\w+)\.(?:`([^`]+)`|"([^"]+)"|(.+))$/.exec(m[1]!);
  if (id && KINDS[id[1]!.toLowerCase()]) {
    const kind = KINDS[id[1]!.toLowerCase()]!;
    const key = id[2] ?? id[3] ?? id[4]!;
    if (what !== "runs" && kind !== "attribute") throw invalidArgument("INVALID_ORDER_BY", `${what.replace("_", " ")} are ordered by ${orderable(what).join(", ")}`);
    return { kind, key: kind === "attribute" ? (aliasesOf(what)[key] ?? key) : key, descending };
  }
  const bare = m[1]!.replace(/^`(.*)`$/, "$1");
  const key = aliasesOf(what)[bare] ?? bare;
  const known = orderable(what);
  if (!known.includes(key)) throw invalidArgument("INVALID_ORDER_BY", `Invalid order_by clause '${printable(entry)}': ${what.replace("_", " ")} are ordered by ${known.join(", ")}${what === "runs" ? ", metrics.*, params.* or tags.*" : ""}`);
  return { kind: "attribute", key, descending };
}

function orderable(what: Searched): string[] {
  return what === "experiments" ? ["name", "experiment_id", ...NUMERIC_ATTRIBUTES.experiments] : [...TEXT_ATTRIBUTES[what], ...NUMERIC_ATTRIBUTES[what]];
}

function aliasesOf(what: Searched): Record<string, string> {
  return what === "runs" || what === "experiments" ? ATTRIBUTE_ALIASES : what === "traces" ? TRACE_ALIASES : MODEL_ALIASES;
}

export function parseOrder(entries: Json[], what: Searched): OrderKey[] {
  return entries.map((e) => parseOrderKey(e, what));
}

/** The keys of these kinds that a filter and an order read, each once (e.g. the metrics and params a run search needs of every run). */
export function keysRead(clauses: readonly Clause[], order: readonly OrderKey[], kinds: readonly SearchKind[]): string[] {
  return [...new Set([...clauses, ...order].filter((c) => kinds.includes(c.kind)).map((c) => c.key))];
}

/**
 * Sorts `items` in place by the keys in turn; a missing value, or NaN, comes last whichever
 * the direction (as MLflow sorts), then the fallback keys break ties. Each item's values are
 * looked up once, not at every comparison (a run's start time is parsed from its record).
 */
export function sortBy<T>(items: T[], keys: readonly OrderKey[], lookup: (item: T) => Lookup): void {
  const decorated = items.map((item) => {
    const of = lookup(item);
    return { item, values: keys.map((k) => of(k.kind, k.key)) };
  });
  decorated.sort((a, b) => compareValues(a.values, b.values, keys));
  decorated.forEach((d, i) => (items[i] = d.item));
}

/** Experiments whose start orders a search merges at most; more are read whole and sorted (each experiment's stream costs a few queries a page). */
export const MAX_MERGED_EXPERIMENTS = 32;

/** Newest first when no order is asked for (MLflow's default), or the time alone descending; oldest first for the time alone ascending. */
export function startOrderOf(order: readonly OrderKey[], timeKey: string): "newest" | "oldest" | undefined {
  if (order.length === 0) return "newest";
  const [first] = order;
  if (order.length > 1 || first!.kind !== "attribute" || first!.key !== timeKey) return undefined;
  return first!.descending ? "newest" : "oldest";
}

/** The order of two items by the keys in turn, as sortBy orders them. */
export function compareLookups(keys: readonly OrderKey[], a: Lookup, b: Lookup): number {
  return compareValues(
    keys.map((k) => a(k.kind, k.key)),
    keys.map((k) => b(k.kind, k.key)),
    keys,
  );
}

function compareValues(xs: readonly (string | number | undefined)[], ys: readonly (string | number | undefined)[], keys: readonly OrderKey[]): number {
  for (let i = 0; i < keys.length; i++) {
    const x = xs[i];
    const y = ys[i];
    const xMissing = x === undefined || (typeof x === "number" && Number.isNaN(x));
    const yMissing = y === undefined || (typeof y === "number" && Number.isNaN(y));
    if (xMissing || yMissing) {
      if (xMissing && yMissing) continue;
      return xMissing ? 1 : -1;
    }
    // Not x - y: two infinities of a sign are equal, where their difference is NaN.
    const c = typeof x === "number" && typeof y === "number" ? (x === y ? 0 : x < y ? -1 : 1) : String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
    if (c !== 0) return keys[i]!.descending ? -c : c;
  }
  return 0;
}

const MAX_RESULTS = 50_000;

/** A page of `items` from an opaque token (the offset), `maxResults` at most (default 1,000). */
export function pageOf<T>(items: readonly T[], maxResults: number | undefined, token: string | undefined): { items: T[]; next?: string } {
  const { offset, end } = pageBounds(maxResults, token);
  return { items: items.slice(offset, end), ...(end < items.length ? { next: Buffer.from(JSON.stringify({ offset: end })).toString("base64url") } : {}) };
}

/** Where a page starts and ends in the whole ordered list: pageOf answers the same of any list that holds its first `end` + 1 items. */
export function pageBounds(maxResults: number | undefined, token: string | undefined): { offset: number; end: number } {
  const size = maxResults ?? 1000;
  if (size < 1 || size > MAX_RESULTS) throw invalidArgument("INVALID_MAX_RESULTS", `max_results is from 1 to ${MAX_RESULTS}, got ${size}`);
  let offset = 0;
  if (token) {
    try {
      offset = (JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { offset: number }).offset;
    } catch {
      offset = NaN;
    }
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this server gave");
  }
  return { offset, end: offset + size };
}
