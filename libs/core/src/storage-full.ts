import { resourceExhausted, type KilnError } from "./errors.js";

/** Whether a file system (or a quota) had no room for a write. */
export function isStorageFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

/** What a caller hears when the server's storage is full: nothing was stored, and it is no fault of the request. */
export function storageFull(): KilnError {
  return resourceExhausted("STORAGE_FULL", "the server's storage is full: nothing was stored; free space there (or raise its quota) and try again (what a drop frees is deleted an hour after it)");
}
