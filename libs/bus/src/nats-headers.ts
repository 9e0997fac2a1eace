import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

/** NATS headers for these, or none when there are none (a message without headers is smaller). */
export function toNatsHeaders(record: Record<string, string> | undefined): MsgHdrs | undefined {
  const entries = Object.entries(record ?? {});
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of entries) h.set(k, v);
  return h;
}

/** A message's headers as a record ({} when it has none). */
export function fromNatsHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const key of h?.keys() ?? []) record[key] = h!.get(key);
  return record;
}
