import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RecordBatch, Schema, Table } from "apache-arrow";
import { schemaFromIpc, schemasEqual } from "@kiln/data";
import { jobOutputComment } from "@kiln/contracts";
import { ResourceRefSchema, type ResourceRef } from "@kiln/proto/kiln/common/v1/resource_pb";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import { Channel } from "./channel.js";
import type { JobContext } from "./job-context.js";
import { failedPrecondition } from "./job-failure.js";

/** A job's output dataset being written: results pushed as they come, one new version when the channel closes. */
export interface OutputWriter {
  /** Fails if results of this schema cannot be appended to the dataset as it is (asks the store once). */
  check(schema: Schema): Promise<void>;
  channel: Channel<Table>;
  written: Promise<ResourceRef>;
}

/**
 * Writes result tables to the output dataset as they come; one new version when done. A
 * job's results are appended, so an existing dataset must have their schema: `check` the
 * first results before publishing any, rather than learn it from the store's commit once
 * every row has been predicted.
 */
export function startOutput(ctx: JobContext): OutputWriter {
  const name = ctx.job.outputDataset;
  const channel = new Channel<Table>(2);
  const existing = existingSchema(ctx, name);
  existing.catch(() => {}); // awaited by check
  const comment = jobOutputComment(ctx.job.name);
  const written = (async () => {
    const batches = (async function* () {
      for await (const table of channel) yield* table.batches;
    })();
    // Its author is whoever submitted the job, not this executor.
    const info = await ctx.deps.kiln.datasets.write(name, batches as AsyncIterable<RecordBatch>, { comment, onBehalfOf: ctx.job.creator });
    return create(ResourceRefSchema, { name, version: BigInt(info.version) });
  })();
  // A failed write releases the producer at once; the error surfaces when `written` is awaited.
  written.catch((e: unknown) => channel.close(e));
  return {
    channel,
    written,
    async check(schema) {
      const found = await existing;
      if (found?.kind !== undefined && found.kind !== DatasetKind.TABLE) {
        throw failedPrecondition("NOT_A_TABLE", `the output dataset ${name} is a ${DatasetKind[found.kind].toLowerCase()} dataset; a job's results are a table: name another output dataset`);
      }
      const was = found?.schema;
      if (was && !schemasEqual(was, schema)) {
        throw failedPrecondition("SCHEMA_MISMATCH", `the results (${fieldsText(schema)}) cannot be appended to the output dataset ${name}, which has (${fieldsText(was)}): name another output dataset`);
      }
    },
  };
}

/** The dataset's kind and its latest version's Arrow schema, if it exists. */
async function existingSchema(ctx: JobContext, name: string): Promise<{ kind: DatasetKind; schema?: Schema } | undefined> {
  try {
    const { dataset } = await ctx.deps.store.getDataset({ name });
    if (!dataset || dataset.latestVersion === 0n) return undefined; // nothing written yet: any table goes
    const bytes = dataset.latest?.arrowSchema;
    return { kind: dataset.kind, schema: bytes?.length ? schemaFromIpc(bytes) : undefined };
  } catch (e) {
    if (ConnectError.from(e).code === Code.NotFound) return undefined;
    throw e;
  }
}

function fieldsText(schema: Schema): string {
  return schema.fields.map((f) => `${f.name}: ${String(f.type)}`).join(", ");
}
