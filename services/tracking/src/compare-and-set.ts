import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { Collection } from "@kiln/storage";

/**
 * Changes a stored document by a compare-and-set: `change` gets it as stored and returns it
 * changed (or a promise of it), or undefined to leave it as it is; a write that another got in before is tried
 * again on what that one stored, up to `attempts` times.
 */
export async function changeStored<T>(collection: Collection<T>, key: string, change: (value: T) => T | undefined | Promise<T | undefined>, errors: { missing: () => Error; busy: () => Error }, attempts: number): Promise<T> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const found = await collection.get(key);
    if (!found) throw errors.missing();
    const next = await change(found.value);
    if (next === undefined) return found.value;
    try {
      await collection.update(key, next, found.rev);
      return next;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
  throw errors.busy();
}
