import { invalidArgument } from "@kiln/core";
import { FilterSyntaxError, parseFilter, type FilterExpr } from "@kiln/data";

/** Parses a filter; a syntax error becomes InvalidArgument naming the position. */
export function parseFilterText(text: string): FilterExpr {
  try {
    return parseFilter(text);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_FILTER", e.message, { position: String(e.position) });
    throw e;
  }
}
