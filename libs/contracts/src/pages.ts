/**
 * Every item of a paginated List call: `page(token)` fetches one page, "" the first, and
 * the pages go on while an answer names a next page token.
 */
export async function allPages<T>(page: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>): Promise<T[]> {
  const out: T[] = [];
  let pageToken = "";
  do {
    const res = await page(pageToken);
    for (const item of res.items) out.push(item); // not push(...items): a page of 250,000 is past the arguments a call takes
    pageToken = res.nextPageToken;
  } while (pageToken);
  return out;
}

/** The first `limit` items of a listing, a page at a time, each asking for no more than are still wanted (up to `maxPage`). */
export async function firstItems<T>(limit: number, maxPage: number, page: (pageSize: number, pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>): Promise<T[]> {
  const out: T[] = [];
  let pageToken = "";
  do {
    const res = await page(Math.min(maxPage, limit - out.length), pageToken);
    for (const item of res.items) out.push(item);
    pageToken = res.nextPageToken;
  } while (pageToken && out.length < limit);
  return out;
}
