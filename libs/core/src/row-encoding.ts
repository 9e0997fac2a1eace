import { RowEncoding } from "@kiln/proto/kiln/common/v1/table_pb";
import { invalidArgument } from "./errors.js";

/** Whether a read asks for JSON rows rather than Arrow IPC; a number that is no RowEncoding is refused. */
export function wantsJsonRows(encoding: RowEncoding): boolean {
  if (!RowEncoding[encoding]) throw invalidArgument("INVALID_ENCODING", `encoding ${encoding} is not a RowEncoding (ROW_ENCODING_ARROW_IPC or ROW_ENCODING_JSON)`);
  return encoding === RowEncoding.JSON;
}
