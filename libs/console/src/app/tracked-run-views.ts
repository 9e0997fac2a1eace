import type { EventRow, Experiment, RunSummaryInfo } from "@kiln/sdk";
import { CHART_POINTS, lineChart } from "./chart.js";
import { bytes, clipped, fields, h, lastSegment, link, number, table, when, type Child } from "./dom.js";

/** Other events a run's page lists (its params, metrics, artifacts and profile samples have their own places): the first this many. */
const LISTED_EVENTS = 50;
const VALUE_CHARS = 200;

/** A run's page (MLflow's run page): `#/experiments/{e}/runs/{n}`. */
export function trackedRunHref(experiment: string, run: number): string {
  return `#/experiments/${encodeURIComponent(experiment)}/runs/${run}`;
}

/**
 * One run: its status, times, host, who and what opened it, tags; its params; each metric's
 * last, min, max and count, and one metric's history drawn (`?metric=…`); its artifacts, a
 * file downloaded from here, a JSON value shown; and the other events it logged (a job's
 * call and end, dataset inputs, a fitted model).
 */
export async function trackedRunView(exp: Experiment, experiment: string, run: number, query: URLSearchParams): Promise<Node[]> {
  const [[summary], artifacts, others] = await Promise.all([
    exp.summary([run]),
    exp.data({ run, event: "artifact" }),
    exp.data({ run, filter: 'NOT event IN ("metric", "param", "artifact", "profile")' }),
  ]);
  const s = summary!;
  const metrics = Object.keys(s.metrics).sort();
  const shown = metrics.includes(query.get("metric") ?? "") ? query.get("metric")! : metrics[0];
  const out: Node[] = [
    h("h1", {}, `Run ${run} of ${experiment}`),
    h("p", {}, link(`#/experiments/${encodeURIComponent(experiment)}`, `experiment ${experiment}`)),
    fields(runFields(s)),
    h("h2", {}, "Params"),
    table(Object.entries(s.params).sort(([a], [b]) => (a < b ? -1 : 1)), [
      { title: "param", cell: ([k]) => k },
      { title: "value", cell: ([, v]) => clipped(v, VALUE_CHARS) },
    ]),
    h("h2", {}, "Metrics"),
    table(metrics, [
      { title: "metric", cell: (m) => link(`${trackedRunHref(experiment, run)}?metric=${encodeURIComponent(m)}`, m) },
      { title: "last", cell: (m) => number(s.metrics[m]!.last), numeric: true },
      { title: "min", cell: (m) => number(s.metrics[m]!.min), numeric: true },
      { title: "max", cell: (m) => number(s.metrics[m]!.max), numeric: true },
      { title: "count", cell: (m) => s.metrics[m]!.count, numeric: true },
    ]),
  ];
  if (shown) {
    const count = s.metrics[shown]?.count ?? 0;
    out.push(h("h2", {}, `${shown} by step`), lineChart([{ label: `run ${run}`, points: await exp.history(shown, run, { maxPoints: CHART_POINTS }) }]));
    if (count > CHART_POINTS) out.push(h("p", {}, `${CHART_POINTS.toLocaleString("en")} of its ${count.toLocaleString("en")} points drawn, chosen to keep the line's shape`));
  }
  out.push(
    h("h2", {}, "Artifacts"),
    table(artifacts, [
      { title: "name", cell: (a) => a.key },
      { title: "logged", cell: (a) => when(a.dt) },
      { title: "what", cell: (a) => artifactCell(exp, run, a) },
    ]),
    h("h2", {}, "Events"),
    table(others.slice(0, LISTED_EVENTS), [
      { title: "event", cell: (e) => e.event },
      { title: "key", cell: (e) => e.key },
      { title: "time", cell: (e) => when(e.dt) },
      { title: "value", cell: (e) => clipped(e.value, VALUE_CHARS) },
    ]),
  );
  if (others.length > LISTED_EVENTS) out.push(h("p", { class: "muted" }, `and ${others.length - LISTED_EVENTS} more (kiln experiments:show ${experiment} --run ${run})`));
  return out;
}

function runFields(s: RunSummaryInfo): [string, Child][] {
  const job = /^projects\/[^/]+\/jobs\/[^/]+$/.test(s.runKey) ? link(`#/jobs/${encodeURIComponent(lastSegment(s.runKey))}`, s.runKey) : s.runKey;
  const seconds = s.startTime && s.endTime ? (s.endTime.getTime() - s.startTime.getTime()) / 1000 : undefined;
  return [
    ["status", s.status],
    ["started", when(s.startTime)],
    ["ended", when(s.endTime)],
    ["duration", seconds === undefined ? "" : `${number(seconds)} s`],
    ["host", s.node],
    ["opened by", h("span", {}, s.creator, s.creator && s.runKey ? ", " : "", job)],
    ["tags", Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(", ")],
    ...(s.deleteTime ? [["deleted", `${when(s.deleteTime)} by MLflow's API (its restore undoes it)`] as [string, Child]] : []),
  ];
}

/** A file by its size and type, with a button that downloads it (read through the SDK with the page's token); a JSON value as itself. */
function artifactCell(exp: Experiment, run: number, a: EventRow): Child {
  const value = a.value as { kind?: string; ref?: string; size?: number; mediaType?: string } | null;
  if (value?.kind !== "file") return clipped(value?.kind === "json" ? value.ref : value, VALUE_CHARS);
  const button = h("button", { type: "button" }, "download");
  const status = h("span", {});
  button.addEventListener("click", () => void download(exp, run, a.key, value.mediaType, button, status));
  return h("span", {}, `file, ${bytes(value.size ?? 0)}${value.mediaType ? `, ${value.mediaType}` : ""} `, button, status);
}

async function download(exp: Experiment, run: number, name: string, mediaType: string | undefined, button: HTMLButtonElement, status: HTMLElement): Promise<void> {
  button.disabled = true;
  status.textContent = "";
  try {
    const body = (await exp.artifact(name, { run })) as Uint8Array<ArrayBuffer>;
    const url = URL.createObjectURL(new Blob([body], { type: mediaType || "application/octet-stream" }));
    h("a", { href: url, download: name.slice(name.lastIndexOf("/") + 1) }).click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    status.className = "error";
    status.textContent = ` ${(e as Error).message}`;
  } finally {
    button.disabled = false;
  }
}
