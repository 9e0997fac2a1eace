import { invalidArgument } from "@kiln/core";
import { FilterSyntaxError, parseFilter, type FilterExpr } from "@kiln/data";

/** A filter from a request; a syntax error becomes InvalidArgument INVALID_FILTER naming its position. */
export function parseRequestFilter(text: string): FilterExpr {
  try {
    return parseFilter(text);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_FILTER", e.message, { position: String(e.position) });
    throw e;
  }
}
