import type { Collection, Stored } from "./metadata.js";

const PAGE = 500;

/** Every record under the prefix in key order, read a page at a time, so that no list of all of them is held and a reader may stop early. */
export async function* storedInPages<T>(collection: Pick<Collection<T>, "list">, prefix?: string): AsyncGenerator<Stored<T>> {
  let after: string | undefined;
  for (;;) {
    const rows = await collection.list({ prefix, after, limit: PAGE });
    yield* rows;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.key;
  }
}
