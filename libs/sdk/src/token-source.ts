/** A bearer token, or where to get the current one (a login that refreshes itself). */
export type TokenSource = string | (() => Promise<string>);

/** The Authorization header for a call, if there is a token. */
export async function authorizationHeader(source: TokenSource | undefined): Promise<Record<string, string>> {
  const token = typeof source === "function" ? await source() : source;
  return token ? { authorization: `Bearer ${token}` } : {};
}
