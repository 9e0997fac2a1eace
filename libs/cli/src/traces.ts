import type { Command } from "commander";
import { spansInTreeOrder, type Kiln, type TraceDetail, type TraceSpanInfo } from "@kiln/sdk";
import { collect } from "./key-values.js";
import { positiveInt } from "./option-values.js";
import { printFields, printJson, printTable, type Output } from "./output.js";

type Connect = () => Promise<Kiln>;

const PREVIEW_CHARS = 60;

function clipped(value: unknown, chars = PREVIEW_CHARS): string {
  const text = (typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)).replace(/\s+/g, " ");
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/** The spans as a tree: each under its parent, in start order, with its type, time and status. */
export function spanTree(spans: readonly TraceSpanInfo[]): string[] {
  return spansInTreeOrder(spans).flatMap(({ span: s, depth }) => {
    const ms = s.startTime && s.endTime ? `${s.endTime.getTime() - s.startTime.getTime()} ms` : "";
    const status = s.status === "ERROR" ? ` ERROR${s.statusMessage ? `: ${clipped(s.statusMessage)}` : ""}` : "";
    const indent = "  ".repeat(depth + 1);
    return [
      `${"  ".repeat(depth)}${s.name} [${s.type || "UNKNOWN"}] ${ms}${status}`,
      ...(s.inputs !== undefined ? [`${indent}in:  ${clipped(s.inputs)}`] : []),
      ...(s.outputs !== undefined ? [`${indent}out: ${clipped(s.outputs)}`] : []),
    ];
  });
}

function printTrace(o: Output, t: TraceDetail): void {
  const userTags = Object.entries(t.tags).filter(([k]) => !k.startsWith("mlflow."));
  printFields(o, [
    ["trace", t.traceId],
    ["name", t.tags["mlflow.traceName"] ?? ""],
    ["state", t.state],
    ["time", t.requestTime],
    ["duration", `${t.executionMs} ms`],
    ["runs", t.runs.join(", ")],
    ["tags", userTags.map(([k, v]) => `${k}=${v}`).join(", ")],
    ["request", clipped(t.request, 200)],
    ["response", clipped(t.response, 200)],
  ]);
  if (t.assessments.length) {
    o.out.write("\nassessments:\n");
    for (const a of t.assessments) o.out.write(`  ${a.kind} ${a.name} = ${clipped(a.value)}${a.valid ? "" : " (overridden)"}${a.source ? ` by ${a.source}` : ""}${a.rationale ? `: ${clipped(a.rationale)}` : ""}\n`);
  }
  o.out.write(t.spans.length ? `\nspans:\n${spanTree(t.spans).map((l) => `  ${l}\n`).join("")}` : "\nno spans uploaded\n");
}

/** MLflow's traces of an experiment: traces, traces:show. */
export function traceCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("traces")
    .description("an experiment's traces (MLflow's tracing), newest first")
    .argument("<experiment>")
    .option("--filter <expr>", "MLflow's trace filter, e.g. \"trace.status = 'ERROR'\" or \"span.name = 'retrieve'\"")
    .option("--order-by <entry>", 'e.g. "execution_time_ms DESC" (repeatable)', collect)
    .option("--limit <n>", "at most this many (default 100)", positiveInt)
    .action(async (experiment: string, opts: { filter?: string; orderBy?: string[]; limit?: number }) => {
      const o = output();
      const traces = await (await connect()).experiment(experiment).traces({ filter: opts.filter, orderBy: opts.orderBy, limit: opts.limit });
      if (o.json) return printJson(o, traces);
      printTable(
        o,
        traces.map((t) => ({ trace: t.traceId, time: t.requestTime, state: t.state, ms: t.executionMs, name: t.tags["mlflow.traceName"] ?? "", request: clipped(t.request), assessments: t.assessments.filter((a) => a.valid).length || "" })),
        ["trace", "time", "state", "ms", "name", "request", "assessments"],
      );
    });

  program
    .command("traces:show")
    .description("one trace: its info, assessments and spans as a tree")
    .argument("<experiment>")
    .argument("<trace-id>")
    .action(async (experiment: string, traceId: string) => {
      const o = output();
      const trace = await (await connect()).experiment(experiment).trace(traceId);
      if (o.json) return printJson(o, trace);
      printTrace(o, trace);
    });
}
