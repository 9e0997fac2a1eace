import { Code } from "@connectrpc/connect";
import { invalidArgument, isKilnError, printable } from "@kiln/core";

/** update_mask is given, and names only fields that can change. */
export function checkUpdateMask(mask: readonly string[], mutable: ReadonlySet<string>): void {
  if (mask.length === 0) throw invalidArgument("UPDATE_MASK_REQUIRED", `update_mask is required: any of ${[...mutable].join(", ")}`);
  for (const path of mask) {
    if (!mutable.has(path)) throw invalidArgument("INVALID_UPDATE_MASK", `update_mask "${printable(path)}" is not a field that can change: ${[...mutable].join(", ")}`);
  }
}

/**
 * Reads, changes and writes a record under its revision, again (up to 10 times) if another
 * write came between; the value written. `change` returning false leaves the record as it
 * is (nothing written; the value as read is returned).
 */
export async function changeUnderRevision<T>(
  read: () => Promise<{ value: T; rev: number }>,
  write: (value: T, rev: number) => Promise<unknown>,
  change: (value: T) => boolean | void | Promise<boolean | void>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const { value, rev } = await read();
    if ((await change(value)) === false) return value;
    try {
      await write(value, rev);
      return value;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted) || attempt >= 10) throw e;
    }
  }
}
