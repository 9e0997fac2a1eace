import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { DatasetKind, type Kiln, type KindName, type WriteModeName } from "@kiln/sdk";
import { decodeChunk } from "@kiln/data";
import { sqlBatches, redactedSource } from "@kiln/sdk/sql";
import { collect, parsePairs } from "./key-values.js";
import { checkWritable, formatOf, mediaTypeOf, openInput, readTableFile, writeTableFile, type TableFormat } from "./formats.js";
import { formatBytes, printFields, printJson, printTable, type Output } from "./output.js";
import { progressBar } from "./progress.js";
import { columnList, positiveInt, wholeNumber } from "./option-values.js";

/** Formats whose column types are inferred from their text (Arrow and Parquet files carry theirs). */
const TEXT_FORMATS = new Set<TableFormat>(["csv", "tsv", "json", "ndjson"]);

type Connect = () => Promise<Kiln>;

const modes = ["upsert", "create", "append", "replace"];
const kinds = ["table", "tensor", "document", "file"];

export function datasetCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("datasets")
    .description("list datasets")
    .option("--filter <expr>", 'e.g. kind = "table" AND labels.team = "risk"')
    .action(async (opts: { filter?: string }) => {
      const o = output();
      const list = await (await connect()).datasets.list({ filter: opts.filter });
      if (o.json) return printJson(o, list);
      printTable(
        o,
        list.map((d) => ({
          name: d.id,
          kind: d.kind,
          version: d.latestVersion,
          rows: d.latest?.rowCount,
          size: d.latest ? formatBytes(d.latest.byteSize) : "",
          updated: d.updateTime,
        })),
        ["name", "kind", "version", "rows", "size", "updated"],
      );
    });

  program
    .command("datasets:put")
    .description("store a file as a new dataset version (CSV, TSV, JSON, NDJSON, Arrow, Parquet; anything else as a file), or a SQL query's rows (--sql, --from)")
    .argument("<name>")
    .argument("[file]", 'path, or "-" for stdin')
    .option("--mode <mode>", `one of ${modes.join(", ")}`, "upsert")
    .option("--kind <kind>", `force ${kinds.join(", ")}`)
    .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from the extension)")
    .option("--description <text>")
    .option("--label <key=value...>", "labels for a new dataset")
    .option("--comment <text>")
    .option("--sql <query>", "store this query's rows instead of a file (read-only), from --from")
    .option("--from <source>", "where --sql reads: sqlite:PATH, or postgres://user@host:port/db (the password from PGPASSWORD rather than the command line)")
    .option("--sql-param <value>", "a value for the query's next placeholder (? in SQLite, $1, $2… in PostgreSQL; repeatable)", collect)
    .action(async (name: string, file: string | undefined, opts: PutFlags) => {
      const o = output();
      if (!modes.includes(opts.mode)) throw new Error(`--mode must be one of ${modes.join(", ")}`);
      if (opts.kind && !kinds.includes(opts.kind)) throw new Error(`--kind must be one of ${kinds.join(", ")}`);
      const rows = sqlRows(file, opts);
      if (!rows && file === undefined) throw new Error("name a file to store (or - for stdin), or a query with --sql and --from");
      const kiln = await connect();
      const bar = progressBar(`put ${name}`);
      const common = {
        mode: opts.mode as WriteModeName,
        description: opts.description,
        labels: parsePairs("--label", opts.label),
        comment: opts.comment,
        onProgress: bar.onProgress,
      };
      if (rows) {
        try {
          const version = await kiln.datasets.write(name, rows, common);
          if (o.json) return printJson(o, version);
          o.out.write(`${name}: version ${version.version}, ${version.rowCount} rows, ${formatBytes(version.byteSize)} (from ${redactedSource(opts.from!)})\n`);
          return;
        } finally {
          bar.done();
        }
      }
      file = file!;
      const format = opts.kind === "file" || opts.kind === "document" ? undefined : formatOf(file, opts.format);
      // Rows appended to a table are read into its columns' types: a day of whole amounts is not an Int64 column beside Float64 ones.
      const appending = format && TEXT_FORMATS.has(format) && (opts.mode === "upsert" || opts.mode === "append");
      const schema = appending ? await kiln.datasets.tableSchema(name) : undefined;
      try {
        const version = format
          ? await kiln.datasets.write(name, readTableFile(file, format, schema && { schema, from: `dataset ${name}` }), common)
          : await kiln.datasets.writeBytes(name, openInput(file), {
              ...common,
              kind: (opts.kind as KindName | undefined) ?? "file",
              mediaType: mediaTypeOf(file),
              totalBytes: await sizeOf(file),
            });
        bar.done();
        if (o.json) return printJson(o, version);
        o.out.write(`${name}: version ${version.version}, ${version.rowCount} rows, ${formatBytes(version.byteSize)}\n`);
      } finally {
        bar.done();
      }
    });

  program
    .command("datasets:get")
    .description("read a dataset (tables as CSV on stdout unless -o names a .csv, .tsv, .json, .ndjson, .arrow or .parquet file)")
    .argument("<name>")
    .option("--version <n>", "a version number (default: latest)", positiveInt)
    .option("--columns <a,b>", "only these columns", columnList)
    .option("--filter <expr>", 'e.g. age > 30 AND country IN ("DE","FR")')
    .option("--limit <n>", "at most n rows", positiveInt)
    .option("--offset <n>", "skip n rows", wholeNumber)
    .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (name: string, opts: GetFlags) => {
      const kiln = await connect();
      const target = opts.output ?? "-";
      const wanted = formatOf(target, opts.format);
      if (wanted) checkWritable(wanted, target);
      const bar = progressBar(`get ${name}`);
      try {
        const { header, chunks } = await kiln.datasets.readRaw(name, { ...opts, onProgress: bar.onProgress });
        if (header.kind === DatasetKind.TABLE) {
          const format = formatOf(target, opts.format ?? (target === "-" ? "csv" : undefined)) ?? "csv";
          const batches = (async function* () {
            for await (const c of chunks) yield* decodeChunk(c).batches;
          })();
          await writeTableFile(batches, target, format);
        } else if (header.kind === DatasetKind.DOCUMENT && target === "-") {
          // Documents arrive as NDJSON; people get them pretty-printed.
          const parts: Uint8Array[] = [];
          for await (const c of chunks) parts.push(c);
          const docs = Buffer.concat(parts).toString("utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as unknown);
          process.stdout.write(JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2) + "\n");
        } else {
          const out = target === "-" ? process.stdout : createWriteStream(target);
          await pipeline(Readable.from(chunks), out, { end: target !== "-" });
        }
      } finally {
        bar.done();
      }
    });

  program
    .command("datasets:show")
    .description("a dataset, its latest version and schema")
    .argument("<name>")
    .action(async (name: string) => {
      const o = output();
      const d = await (await connect()).datasets.info(name);
      if (o.json) return printJson(o, d);
      const v = d.latest;
      printFields(o, [
        ["name", d.name],
        ["kind", d.kind],
        ["description", d.description],
        ["labels", Object.entries(d.labels).map(([k, val]) => `${k}=${val}`).join(", ")],
        ["version", d.latestVersion],
        ["rows", v?.rowCount],
        ["size", v ? formatBytes(v.byteSize) : ""],
        ["sha256", v?.sha256],
        ["created", d.createTime],
        ["updated", d.updateTime],
        ...(v?.dtype ? ([["dtype", v.dtype], ["shape", `[${v.shape.join(", ")}]`]] as [string, unknown][]) : []),
        ...(v?.mediaType ? ([["media type", v.mediaType]] as [string, unknown][]) : []),
      ]);
      if (v?.fields.length) {
        o.out.write("\n");
        printTable(o, v.fields.map((f) => ({ column: f.name, type: f.type, nullable: f.nullable ? "yes" : "no" })), ["column", "type", "nullable"]);
      }
    });

  program
    .command("datasets:log")
    .description("the versions of a dataset, newest first")
    .argument("<name>")
    .action(async (name: string) => {
      const o = output();
      const versions = await (await connect()).datasets.versions(name);
      if (o.json) return printJson(o, versions);
      printTable(
        o,
        versions.map((v) => ({ version: v.version, mode: v.mode, rows: v.rowCount, size: formatBytes(v.byteSize), chunks: v.chunkCount, author: v.author, created: v.createTime, comment: v.comment })),
        ["version", "mode", "rows", "size", "chunks", "author", "created", "comment"],
      );
    });

  program
    .command("datasets:drop")
    .description("delete a dataset and all its versions")
    .argument("<name>")
    .option("--force", "no error if it does not exist")
    .action(async (name: string, opts: { force?: boolean }) => {
      const o = output();
      const deleted = await (await connect()).datasets.drop(name, { force: opts.force });
      if (o.json) return printJson(o, { name, deleted });
      o.out.write(deleted ? `dropped ${name}\n` : `${name} did not exist\n`);
    });
}

/** A query's rows, when the flags ask for them (and not with a file). */
function sqlRows(file: string | undefined, opts: PutFlags) {
  if (opts.sql === undefined && opts.from === undefined) return undefined;
  if (opts.sql === undefined || opts.from === undefined) throw new Error("--sql and --from go together: the query, and the database it reads (sqlite:PATH or postgres://…)");
  if (file !== undefined) throw new Error(`store a file or a query's rows, not both (got ${file} and --sql)`);
  if (opts.kind && opts.kind !== "table") throw new Error("a query's rows are a table: leave out --kind, or say --kind table");
  if (opts.format) throw new Error("--format is for files; a query's rows come typed by the database");
  return sqlBatches(opts.from, opts.sql, { params: opts.sqlParam });
}

interface PutFlags {
  sql?: string;
  from?: string;
  sqlParam?: string[];
  mode: string;
  kind?: string;
  format?: string;
  description?: string;
  label?: string[];
  comment?: string;
}

interface GetFlags {
  version?: number;
  columns?: string[];
  filter?: string;
  limit?: number;
  offset?: number;
  format?: string;
  output?: string;
}

async function sizeOf(path: string): Promise<number | undefined> {
  if (path === "-") return undefined;
  const { stat } = await import("node:fs/promises");
  return (await stat(path)).size;
}

