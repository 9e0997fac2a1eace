import { REQUEST_LOG_LABEL } from "@kiln/contracts";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { parseResourceName } from "./names.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { sweepPace } from "./sweep-pace.js";

/** How often a scheduler drops the request logs' days past their retention. */
const SWEEP_EVERY_MS = 10 * 60_000;
const DAY_MS = 86_400_000;
const due = sweepPace();

/** Drops, for every deployment whose request log keeps `retention_days`, the datasets of its older days; at most every SWEEP_EVERY_MS per scheduler. */
export async function sweepRequestLogs(s: Scheduler): Promise<void> {
  if (due(s, SWEEP_EVERY_MS) === undefined) return;
  for (const deployment of await s.deployments.get()) await dropExpiredDays(s, deployment);
}

/**
 * Drops the days of one deployment's request log older than its retention: datasets named
 * `{dataset}-YYYY-MM-DD` (or `.vN` after it, a version's own) with the log's label (a dataset
 * a user named so is left alone).
 */
export async function dropExpiredDays(s: Scheduler, deployment: Deployment): Promise<number> {
  const log = deployment.requestLog;
  if (!log?.dataset || !log.retentionDays) return 0;
  const { project } = parseResourceName(deployment.name, "deployments");
  // Kept: today and the retention_days - 1 days before it.
  const oldestKept = new Date(nowOf(s).getTime() - (log.retentionDays - 1) * DAY_MS).toISOString().slice(0, 10);
  const day = new RegExp(`^${escape(log.dataset)}-\\d{4}-\\d{2}-\\d{2}(\\.v\\d+)?$`);
  const filter = `labels.${REQUEST_LOG_LABEL} = "true" AND name >= "${log.dataset}-0" AND name < "${log.dataset}-${oldestKept}"`;
  let dropped = 0;
  let pageToken = "";
  do {
    const page = await s.store.listDatasets({ parent: project, filter, pageToken });
    for (const dataset of page.datasets) {
      if (!day.test(dataset.name.slice(dataset.name.lastIndexOf("/") + 1))) continue;
      await s.store.deleteDataset({ name: dataset.name, allowMissing: true });
      dropped++;
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  if (dropped) s.logger.info({ deployment: deployment.name, days: dropped, retentionDays: log.retentionDays }, "dropped the request log's days past its retention");
  return dropped;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
