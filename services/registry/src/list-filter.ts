import { matchesFilter, type FilterExpr } from "@kiln/data";
import type { ModelRecord } from "./records.js";

/**
 * ListModels filters use the row-filter language over: name (the short id),
 * description, latest_version, create_time, update_time, labels.KEY and tags.TAG
 * (the version the tag names).
 */
export function matchesModelFilter(filter: FilterExpr, m: ModelRecord): boolean {
  return matchesFilter(filter, (column) => {
    if (column.startsWith("labels.")) return m.labels[column.slice("labels.".length)];
    if (column.startsWith("tags.")) return m.tags[column.slice("tags.".length)];
    switch (column) {
      case "name":
        return m.name.slice(m.name.lastIndexOf("/") + 1);
      case "description":
        return m.description;
      case "latest_version":
        return m.latestVersion;
      case "create_time":
        return m.createTime;
      case "update_time":
        return m.updateTime;
      default:
        return undefined;
    }
  });
}
