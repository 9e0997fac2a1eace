import type { Kiln } from "@kiln/sdk";
import { h, link, number, table, when } from "./dom.js";
import { lineChart } from "./chart.js";
import { traceView, tracesSection } from "./trace-views.js";

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

/** Runs whose history one chart draws: the latest. */
const CHART_RUNS = 10;
/** Runs the table shows unless all are asked for (`?runs=all`): the newest, as MLflow's UI shows its first 100. */
const TABLE_RUNS = 100;

/**
 * An experiment's runs side by side (MLflow's runs table): status, params, each metric's
 * last value, the newest 100 runs (all with `?runs=all`); a metric's history drawn, a line
 * per run; its newest traces. With `traces/{id}` after the name, that trace.
 */
export async function experimentView(kiln: Kiln, query: URLSearchParams, name: string, metric?: string, traceId?: string): Promise<Node[]> {
  const exp = kiln.experiment(name);
  if (metric === "traces" && traceId !== undefined) return traceView(exp, name, traceId);
  const { latestRun } = await exp.info();
  const from = query.get("runs") === "all" ? 1 : Math.max(1, latestRun - TABLE_RUNS + 1);
  const [runs, traces] = await Promise.all([latestRun ? exp.summary({ from, to: latestRun }) : [], tracesSection(exp, name)]);
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  const out: Node[] = [
    h("h1", {}, `Experiment ${name}`),
    ...(from > 1 ? [h("p", {}, `The newest ${TABLE_RUNS} runs of ${latestRun}: `, link(`#/experiments/${encodeURIComponent(name)}?runs=all`, "show all"))] : []),
    table(runs, [
      { title: "run", cell: (r) => r.run, numeric: true },
      { title: "status", cell: (r) => r.status },
      ...params.map((p) => ({ title: p, cell: (r: (typeof runs)[number]) => shownParam(r.params[p]) })),
      ...metrics.map((m) => ({ title: m, cell: (r: (typeof runs)[number]) => (r.metrics[m] ? number(r.metrics[m]!.last) : ""), numeric: true })),
    ]),
  ];
  if (metrics.length) {
    const shown = metric && metrics.includes(metric) ? metric : metrics[0]!;
    const drawn = runs.filter((r) => r.metrics[shown]).slice(-CHART_RUNS);
    const series = await Promise.all(drawn.map(async (r) => ({ label: `run ${r.run}`, points: await exp.history(shown, r.run) })));
    out.push(
      h("h2", {}, `${shown} by step, ${drawn.length === 1 ? `run ${drawn[0]!.run}` : `the last ${drawn.length} runs that logged it`}`),
      h("p", {}, ...metrics.flatMap((m) => [link(`#/experiments/${encodeURIComponent(name)}/${encodeURIComponent(m)}`, m), " "])),
      lineChart(series),
    );
  }
  return [...out, ...traces];
}

function shownParam(v: unknown): string {
  return v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
}
