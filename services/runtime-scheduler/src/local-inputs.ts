import { randomUUID } from "node:crypto";
import { create, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { errorReason, invalidArgument, KilnError } from "@kiln/core";
import { DataFormatError, jsonTable, tableToIpc } from "@kiln/data";
import { TEMPORARY_INPUT_LABEL } from "@kiln/contracts";
import { JobInputSchema, type JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DatasetKind, WriteMode, type DatasetVersion, type WriteDatasetRequestSchema } from "@kiln/proto/kiln/store/v1/store_pb";
import type { Scheduler } from "./job-store.js";

/** What the store answers about the data itself (rather than about being reachable). */
const REFUSALS = new Set([Code.InvalidArgument, Code.ResourceExhausted, Code.FailedPrecondition]);

/** Whether a job input carries its data in the request rather than naming a dataset. */
export function hasLocalData(input: JobInput | undefined): boolean {
  return input?.local.case !== undefined;
}

/**
 * Stores an input's data from the request as a temporary dataset, as the SDK stores its
 * local data, so the job reads it like any dataset and the scheduler drops it after the
 * job. `made` gets the dataset's name first, so a submit that fails later can drop it.
 * Returns the input pinned to that dataset's version (without the data) and the version.
 */
export async function storeLocalInput(
  s: Scheduler,
  project: string,
  input: JobInput,
  what: string,
  made: string[],
): Promise<{ input: JobInput; version: DatasetVersion }> {
  if (input.dataset) throw invalidArgument("AMBIGUOUS_INPUT", `job.${what} names a dataset and carries ${fieldName(input)}; give one of them`);
  if (input.temporary) throw invalidArgument("AMBIGUOUS_INPUT", `job.${what}.temporary is for a dataset made beforehand; data in the request is made temporary by the scheduler`);
  const { ipc, positionalColumns } = encode(input, what);
  const name = `${project}/datasets/tmp-${randomUUID()}`;
  made.push(name);
  const header = { name, kind: DatasetKind.TABLE, mode: WriteMode.CREATE, labels: { [TEMPORARY_INPUT_LABEL]: "true" }, comment: "job input from the request", endsWithCommit: true };
  const requests: MessageInitShape<typeof WriteDatasetRequestSchema>[] = [
    { message: { case: "header", value: header } },
    { message: { case: "chunk", value: { data: ipc } } },
    { message: { case: "commit", value: { pieces: 1n } } },
  ];
  const version = await s.store.writeDataset(createAsyncIterable(requests)).then(
    (r) => r.version!,
    (e: unknown) => {
      // The store checked the bytes (an Arrow stream, one schema, within its limits): its word, said of the field.
      if (e instanceof ConnectError && REFUSALS.has(e.code)) throw new KilnError(e.code, errorReason(e) ?? "INVALID_INPUT_DATA", `job.${what}.${fieldName(input)}: ${e.rawMessage}`);
      throw e;
    },
  );
  const columns = input.columns.length ? input.columns : positionalColumns;
  return { input: create(JobInputSchema, { dataset: name, version: version.version, temporary: true, columns, filter: input.filter }), version };
}

/** The request's data as one Arrow IPC stream; positional JSON data also gives its columns in order (the features). */
function encode(input: JobInput, what: string): { ipc: Uint8Array; positionalColumns: string[] } {
  if (input.local.case === undefined) throw new Error("an input without local data");
  return rowsInRequest(input.local, `job.${what}.`);
}

/**
 * Rows a request carries (a job's local input, an online prediction's) as one Arrow IPC
 * stream; positional JSON data (rows of numbers) also gives its columns in order, the
 * features. `field` prefixes the fields' names in errors ("job.x.").
 */
export function rowsInRequest(rows: { case: "arrowIpc"; value: Uint8Array } | { case: "data"; value: Value }, field = ""): { ipc: Uint8Array; positionalColumns: string[] } {
  if (rows.case === "arrowIpc") {
    if (rows.value.length === 0) throw invalidArgument("INVALID_INPUT_DATA", `${field}arrow_ipc is empty`);
    return { ipc: rows.value, positionalColumns: [] };
  }
  try {
    const { table, positional } = jsonTable(toJson(ValueSchema, rows.value));
    return { ipc: tableToIpc(table), positionalColumns: positional ? table.schema.fields.map((f) => f.name) : [] };
  } catch (e) {
    if (e instanceof DataFormatError) throw invalidArgument("INVALID_INPUT_DATA", `${field}data ${e.message}`);
    throw e;
  }
}

function fieldName(input: JobInput): string {
  return input.local.case === "arrowIpc" ? "arrow_ipc" : "data";
}
