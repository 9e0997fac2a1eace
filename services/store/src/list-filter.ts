import { matchesFilter, type FilterExpr } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import type { DatasetRecord } from "./records.js";

/**
 * ListDatasets filters use the same language as row filters, over these fields:
 * name (the short id), kind ("table", "tensor", "document", "file"), description,
 * latest_version, create_time, update_time, and labels.<key>.
 */
export function matchesDatasetFilter(filter: FilterExpr, d: DatasetRecord): boolean {
  return matchesFilter(filter, (column) => {
    if (column.startsWith("labels.")) return d.labels[column.slice("labels.".length)];
    switch (column) {
      case "name":
        return d.name.slice(d.name.lastIndexOf("/") + 1);
      case "kind":
        return (DatasetKind[d.kind] ?? "").toLowerCase();
      case "description":
        return d.description;
      case "latest_version":
        return d.latestVersion;
      case "create_time":
        return d.createTime;
      case "update_time":
        return d.updateTime;
      default:
        return undefined;
    }
  });
}
