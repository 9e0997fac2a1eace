import { InvalidArgumentError, type Kiln, type RunSummaryInfo } from "@kiln/sdk";
import { h, link, number, table, when, type Column } from "./dom.js";
import { CHART_POINTS, lineChart } from "./chart.js";
import { traceView, tracesSection } from "./trace-views.js";
import { trackedRunHref, trackedRunView } from "./tracked-run-views.js";

export async function experimentsView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.experiments.list();
  return [
    h("h1", {}, "Experiments"),
    table(list, [
      { title: "name", cell: (e) => link(`#/experiments/${encodeURIComponent(e.name)}`, e.name) },
      { title: "runs", cell: (e) => e.latestRun, numeric: true },
      { title: "description", cell: (e) => e.description },
      { title: "created", cell: (e) => when(e.createTime) },
      ...(list.some((e) => e.deleteTime) ? [{ title: "deleted in MLflow", cell: (e: (typeof list)[number]) => when(e.deleteTime) }] : []),
    ]),
  ];
}

/** Runs whose history one chart draws: the first in the table. */
const CHART_RUNS = 10;
/** Runs the table shows unless all are asked for (`?runs=all`): the first 100, as MLflow's UI shows. */
const TABLE_RUNS = 100;

/**
 * An experiment's runs side by side (MLflow's runs table): status, params, each metric's
 * last value; newest first, or in the order a column's heading sets (`?order=metrics.`acc`
 * DESC`), those MLflow's filter keeps (`?filter=…`); the first 100 (all with `?runs=all`).
 * A metric's history drawn, a line per run of the first ten; its newest traces. With
 * `traces/{id}` after the name, that trace; with `runs/{n}`, that run.
 */
export async function experimentView(kiln: Kiln, query: URLSearchParams, name: string, metric?: string, id?: string): Promise<Node[]> {
  const exp = kiln.experiment(name);
  if (metric === "traces" && id !== undefined) return traceView(exp, name, id);
  if (metric === "runs" && id !== undefined && /^\d+$/.test(id)) return trackedRunView(exp, name, Number(id), query);
  const filter = query.get("filter") ?? "";
  const order = query.get("order") ?? "";
  const all = query.get("runs") === "all";
  const { latestRun } = await exp.info();
  const [found, traces] = await Promise.all([
    latestRun ? exp.search({ filter, orderBy: order ? [order] : [], limit: all ? latestRun : TABLE_RUNS }).catch((e: unknown) => (e instanceof InvalidArgumentError ? e : Promise.reject(e))) : [],
    tracesSection(exp, name),
  ]);
  const page = (changes: Record<string, string>) => pageLink(name, query, changes);
  const out: Node[] = [h("h1", {}, `Experiment ${name}`), searchForm(name, query)];
  if (found instanceof InvalidArgumentError) return [...out, h("p", { class: "error" }, found.message), ...traces];
  const runs = found;
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  if (!all && runs.length === TABLE_RUNS && latestRun > TABLE_RUNS) {
    out.push(h("p", {}, filter || order ? `The first ${TABLE_RUNS} runs found: ` : `The newest ${TABLE_RUNS} runs of ${latestRun}: `, link(page({ runs: "all" }), "show all")));
  }
  // A heading orders the runs by its column, best (highest) first, and the other way when clicked again.
  const heading = (kind: "params" | "metrics", key: string) => {
    const by = `${kind}.\`${key}\``;
    const descending = order === `${by} DESC`;
    return link(page({ order: `${by} ${descending ? "ASC" : "DESC"}` }), `${key}${descending ? " ↓" : order === `${by} ASC` ? " ↑" : ""}`);
  };
  out.push(
    table(
      runs,
      [
        { title: "run", cell: (r) => link(trackedRunHref(name, r.run), String(r.run)), numeric: true },
        { title: "status", cell: (r) => (r.deleteTime ? `${r.status}, deleted in MLflow` : r.status) },
        ...params.map((p): Column<RunSummaryInfo> => ({ title: heading("params", p), cell: (r) => shownParam(r.params[p]) })),
        ...metrics.map((m): Column<RunSummaryInfo> => ({ title: heading("metrics", m), cell: (r) => (r.metrics[m] ? number(r.metrics[m]!.last) : ""), numeric: true })),
      ],
      filter ? "no runs match" : "none yet",
    ),
  );
  if (metrics.length) {
    const shown = metric && metrics.includes(metric) ? metric : metrics[0]!;
    const drawn = runs.filter((r) => r.metrics[shown]).slice(0, CHART_RUNS);
    const series = await Promise.all(drawn.map(async (r) => ({ label: `run ${r.run}`, points: await exp.history(shown, r.run, { maxPoints: CHART_POINTS }) })));
    const which = drawn.length === 1 ? `run ${drawn[0]!.run}` : `the ${order ? "first" : "newest"} ${drawn.length} runs ${order ? "in the table " : ""}that logged it`;
    const search = query.toString();
    out.push(
      h("h2", {}, `${shown} by step, ${which}`),
      h("p", {}, ...metrics.flatMap((m) => [link(`#/experiments/${encodeURIComponent(name)}/${encodeURIComponent(m)}${search ? `?${search}` : ""}`, m), " "])),
      lineChart(series),
    );
  }
  return [...out, ...traces];
}

/** MLflow's run filter, kept in the page's address (so a search can be linked and goes back with the browser). */
function searchForm(name: string, query: URLSearchParams): HTMLFormElement {
  const input = h("input", { name: "filter", size: "60", placeholder: "metrics.acc > 0.9 AND params.model = 'tree'", value: query.get("filter") ?? "" });
  const form = h("form", { class: "search" }, input, " ", h("button", { type: "submit" }, "search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = pageLink(name, query, { filter: input.value.trim(), runs: "" }).slice(1);
  });
  return form;
}

/** The experiment's page with some of its query changed (an empty value drops it). */
function pageLink(name: string, query: URLSearchParams, changes: Record<string, string>): string {
  const next = new URLSearchParams(query);
  for (const [k, v] of Object.entries(changes)) {
    if (v) next.set(k, v);
    else next.delete(k);
  }
  const search = next.toString();
  return `#/experiments/${encodeURIComponent(name)}${search ? `?${search}` : ""}`;
}

function shownParam(v: unknown): string {
  return v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
}
