import { failedPrecondition, invalidArgument } from "@kiln/core";
import { compileFilter, FilterSyntaxError, parseFilter, schemaFromIpc } from "@kiln/data";
import type { JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DatasetKind, type DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";

/**
 * What a job reads of a dataset version, checked at submit as the store checks a read:
 * a table, the columns it names, a filter that parses and compares its columns rightly.
 * A typo is then an error at once, with nothing queued, rather than a failed job later.
 */
export function checkInput(version: DatasetVersion, input: JobInput, what: string, shown = input.dataset): void {
  if (version.kind !== DatasetKind.TABLE) {
    throw failedPrecondition("NOT_A_TABLE", `job.${what}: ${shown} is a ${DatasetKind[version.kind].toLowerCase()} dataset; jobs read tables (put tensors as tables of columns)`, { dataset: input.dataset });
  }
  const known = version.fields.map((f) => f.name);
  const missing = input.columns.filter((c) => !known.includes(c));
  if (missing.length) {
    throw invalidArgument("UNKNOWN_COLUMN", `job.${what}.columns: ${shown} has no column ${missing.map((c) => `"${c}"`).join(", ")} (it has ${known.join(", ")})`, { dataset: input.dataset });
  }
  if (!input.filter) return;
  try {
    compileFilter(parseFilter(input.filter), schemaFromIpc(version.arrowSchema));
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_FILTER", `job.${what}.filter: ${e.message}`, { dataset: input.dataset, position: String(e.position) });
    throw e;
  }
}
