import type { ColumnProfile, Kiln } from "@kiln/sdk";
import type { Table } from "apache-arrow";
import { bytes, fields, h, lastSegment, link, number, table, when } from "./dom.js";

/** Rows of a table dataset shown on its page. */
const PREVIEW_ROWS = 20;

export async function datasetsView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.datasets.list();
  return [
    h("h1", {}, "Datasets"),
    table(list, [
      { title: "name", cell: (d) => link(`#/datasets/${encodeURIComponent(d.id)}`, d.id) },
      { title: "kind", cell: (d) => d.kind },
      { title: "version", cell: (d) => d.latestVersion, numeric: true },
      { title: "rows", cell: (d) => d.latest?.rowCount ?? "", numeric: true },
      { title: "size", cell: (d) => (d.latest ? bytes(d.latest.byteSize) : ""), numeric: true },
      { title: "updated", cell: (d) => when(d.updateTime) },
    ]),
  ];
}

export async function datasetView(kiln: Kiln, _query: URLSearchParams, id: string): Promise<Node[]> {
  const [info, versions] = await Promise.all([kiln.datasets.info(id), kiln.datasets.versions(id)]);
  const latest = info.latest;
  const out: Node[] = [
    h("h1", {}, `Dataset ${id}`),
    fields([
      ["kind", info.kind],
      ["description", info.description],
      ["labels", Object.entries(info.labels).map(([k, v]) => `${k}=${v}`).join(", ")],
      ["columns", latest?.fields.map((f) => `${f.name} ${f.type}`).join(", ") ?? ""],
    ]),
    h("h2", {}, "Versions"),
    table(versions, [
      { title: "version", cell: (v) => v.version, numeric: true },
      { title: "rows", cell: (v) => v.rowCount, numeric: true },
      { title: "size", cell: (v) => bytes(v.byteSize), numeric: true },
      { title: "written", cell: (v) => v.mode },
      { title: "author", cell: (v) => v.author },
      { title: "comment", cell: (v) => v.comment },
      { title: "created", cell: (v) => when(v.createTime) },
    ]),
  ];
  if (info.kind === "table") {
    out.push(h("h2", {}, "Columns"), profileOf(kiln, id));
    const rows = (await kiln.datasets.get(id, { limit: PREVIEW_ROWS })) as Table;
    const names = rows.schema.fields.map((f) => f.name);
    out.push(
      h("h2", {}, `First ${Math.min(PREVIEW_ROWS, rows.numRows)} rows`),
      table(rows.toArray() as Record<string, unknown>[], names.map((name) => ({ title: name, cell: (r: Record<string, unknown>) => shown(r[name]) }))),
    );
  }
  return out;
}

/** The latest version's profile, filled in when the store has it (a first one of a big table takes a while), so the page does not wait. */
function profileOf(kiln: Kiln, id: string): HTMLElement {
  const slot = h("div", {}, "profiling…");
  kiln.datasets.profile(id).then(
    (p) => {
      const numeric = (c: ColumnProfile) => c.kind === "numeric" && c.count > 0;
      slot.replaceChildren(
        table(p.columns, [
          { title: "column", cell: (c) => c.name },
          { title: "type", cell: (c) => c.type },
          { title: "present", cell: (c) => c.count, numeric: true },
          { title: "missing", cell: (c) => c.nulls, numeric: true },
          { title: "distinct", cell: (c) => (c.kind === "other" ? "" : `${c.distinct}${c.valuesComplete ? "" : "+"}`), numeric: true },
          { title: "min", cell: (c) => (numeric(c) ? number(c.min) : ""), numeric: true },
          { title: "median", cell: (c) => (numeric(c) ? number(c.percentiles[50]!) : ""), numeric: true },
          { title: "mean", cell: (c) => (numeric(c) ? number(c.mean) : ""), numeric: true },
          { title: "max", cell: (c) => (numeric(c) ? number(c.max) : ""), numeric: true },
          { title: "std", cell: (c) => (numeric(c) ? number(c.std) : ""), numeric: true },
          { title: "most frequent", cell: (c) => (c.kind === "categorical" ? c.values.slice(0, 3).map((v) => `${v.value} (${v.count})`).join(", ") : "") },
        ]),
      );
    },
    (e: unknown) => slot.replaceChildren(h("span", { class: "error" }, `no profile: ${e instanceof Error ? e.message : String(e)}`)),
  );
  return slot;
}

export async function modelsView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.models.list();
  return [
    h("h1", {}, "Models"),
    table(list, [
      { title: "name", cell: (m) => link(`#/models/${encodeURIComponent(m.id)}`, m.id) },
      { title: "latest", cell: (m) => m.latestVersion, numeric: true },
      { title: "tags", cell: (m) => Object.entries(m.tags).map(([t, v]) => `${t}→${v}`).join(", ") },
      { title: "description", cell: (m) => m.description },
      { title: "updated", cell: (m) => when(m.updateTime) },
    ]),
  ];
}

export async function modelView(kiln: Kiln, _query: URLSearchParams, id: string): Promise<Node[]> {
  const versions = await kiln.models.log(id);
  const latest = versions.find((v) => v.signature);
  return [
    h("h1", {}, `Model ${id}`),
    table(versions, [
      { title: "version", cell: (v) => v.version, numeric: true },
      { title: "tags", cell: (v) => v.tags.join(", ") },
      { title: "format", cell: (v) => v.format },
      { title: "metrics", cell: (v) => metricsOf(v.metadata) },
      { title: "trained by", cell: (v) => (v.lineage?.trainingJob ? link(`#/jobs/${encodeURIComponent(lastSegment(v.lineage.trainingJob))}`, lastSegment(v.lineage.trainingJob)) : "") },
      { title: "from", cell: (v) => (v.lineage?.parentVersion ? `${id}:${lastSegment(v.lineage.parentVersion)}` : "") },
      { title: "data", cell: (v) => (v.lineage?.sourceDatasets ?? []).map((d) => `${lastSegment(d.name)}@${d.version}`).join(", ") },
      { title: "served by", cell: (v) => v.holders.filter((holder) => holder.includes("/deployments/")).map(lastSegment).join(", ") },
      { title: "author", cell: (v) => v.author },
      { title: "created", cell: (v) => when(v.createTime) },
    ]),
    ...(latest?.signature
      ? [
          h("h2", {}, `Signature of version ${latest.version}`),
          table(
            [...latest.signature.inputs.map((t) => ({ ...t, side: "input" })), ...latest.signature.outputs.map((t) => ({ ...t, side: "output" }))],
            [
              { title: "", cell: (t) => t.side },
              { title: "name", cell: (t) => t.name },
              { title: "type", cell: (t) => t.type },
            ],
          ),
          fields([
            ["features", listed(latest.metadata.features)],
            ["target", listed(latest.metadata.target)],
            ["classes", listed(latest.metadata.classes)],
          ]),
        ]
      : []),
  ];
}

function listed(v: unknown): string {
  return Array.isArray(v) ? v.join(", ") : v === undefined || v === null ? "" : String(v);
}

/** The numbers among a version's metadata (training score, inertia…). */
function metricsOf(metadata: Record<string, unknown>): string {
  return Object.entries(metadata)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => `${k}=${number(v as number)}`)
    .join(" ");
}

function shown(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") return JSON.stringify(v, (_, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
  return String(v);
}
