import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { isProcessRunning, type Logger } from "@kiln/core";
import type { MetadataStore } from "@kiln/storage";

const KEY = "in-process-bus";
const PROCESS_INSTANCE = randomUUID();
/** How often the holder renews its lease. */
const RENEW_MS = 5_000;
/** A lease not renewed for this long was left by a process that is gone (one on another host, whose pid we cannot check). */
const STALE_MS = 30_000;

interface Lease {
  host: string;
  pid: number;
  /** This life of the process: a container restarted as pid 1 on the same host has another. */
  instance?: string;
  /** When the holder started, ISO 8601, for the refusal's words. */
  since: string;
  /** When it last renewed, in ms since the epoch. */
  renewed: number;
}

export interface BusLease {
  release(): Promise<void>;
}

export interface LeaseOptions {
  /** Where the metadata is, in the user's words (e.g. "KILN_DATA_DIR /srv/kiln"). */
  where: string;
  now?: () => number;
  host?: string;
  pid?: number;
  instance?: string;
  /** Whether a process of this host runs (default: signal 0). */
  alive?: (pid: number) => boolean;
}

/**
 * Embedded mode's queues live on its in-process bus, which no other process sees. A second
 * embedded server on the same metadata would put the first one's queued and running jobs
 * back on its own queues at start and run them twice, and neither would see the other's
 * results. So one process at a time holds the metadata's in-process bus: a lease it renews,
 * which the next one takes over only once its holder is gone (a process of this host no
 * longer running, or a lease not renewed for 30 s). Throws, in words, while another holds it.
 */
export async function holdInProcessBus(metadata: MetadataStore, logger: Logger, options: LeaseOptions): Promise<BusLease> {
  const leases = metadata.collection<Lease>("runtime_bus_lease");
  const now = options.now ?? Date.now;
  const host = options.host ?? hostname();
  const pid = options.pid ?? process.pid;
  const instance = options.instance ?? PROCESS_INSTANCE;
  const alive = options.alive ?? isProcessRunning;
  const since = new Date(now()).toISOString();
  const mine = (): Lease => ({ host, pid, instance, since, renewed: now() });

  const held = await leases.get(KEY);
  let rev: number;
  if (!held) {
    rev = (await leases.create(KEY, mine()).catch(() => refuse(options.where, undefined))).rev;
  } else {
    const other = held.value;
    // This host's pid in another life of the process was a container restarted as that pid; a lease not renewed
    // is a holder gone too, also one whose pid another process took since.
    const sameHost = other.host === host;
    const gone = (sameHost && (other.pid === pid ? other.instance !== instance : !alive(other.pid))) || now() - other.renewed > STALE_MS;
    if (!gone) refuse(options.where, other);
    rev = (await leases.update(KEY, mine(), held.rev).catch(() => refuse(options.where, undefined))).rev;
    logger.info({ left: other }, "took over the in-process bus from a process that is gone");
  }

  const timer = setInterval(() => {
    leases.update(KEY, mine(), rev).then(
      (stored) => (rev = stored.rev),
      (e: unknown) => logger.error({ err: e }, "could not renew the in-process bus lease: another process may run this metadata's jobs too"),
    );
  }, RENEW_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await leases.delete(KEY, rev).catch((e: unknown) => logger.warn({ err: e }, "could not release the in-process bus lease"));
    },
  };
}

function refuse(where: string, holder: Lease | undefined): never {
  const who = holder ? `another Kiln process (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : "another Kiln process, starting at the same time,";
  throw new Error(
    `${who} runs embedded on this metadata (${where}); its jobs wait on its in-process bus, which this process cannot see, so two would run them twice. ` +
      "Stop it first, or give this one its own KILN_DATA_DIR (or run both on NATS: KILN_BUS=nats)",
  );
}
