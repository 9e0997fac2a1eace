/**
 * Every item of a paginated List call: `page(token)` fetches one page, "" the first, and
 * the pages go on while an answer names a next page token.
 */
export async function allPages<T>(page: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>): Promise<T[]> {
  const out: T[] = [];
  let pageToken = "";
  do {
    const res = await page(pageToken);
    out.push(...res.items);
    pageToken = res.nextPageToken;
  } while (pageToken);
  return out;
}
