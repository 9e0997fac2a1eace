import type { MessageInitShape } from "@bufbuild/protobuf";
import type { LineageSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { versionName } from "./model-refs.js";
import { resourceName } from "./names.js";

/** Where a model came from; short names are resolved in the client's project. */
export interface LineageInput {
  /** Datasets it was trained on; version 0 or none means the latest. */
  sourceDatasets?: { name: string; version?: number }[];
  /** projects/{p}/jobs/{id} */
  trainingJob?: string;
  /** projects/{p}/experiments/{e}/runs/{n} */
  run?: string;
  /** A model ref, e.g. "churn:2". */
  parentVersion?: string;
}

export function lineageInit(project: string, lineage: LineageInput): MessageInitShape<typeof LineageSchema> {
  return {
    sourceDatasets: (lineage.sourceDatasets ?? []).map((d) => ({ name: resourceName(project, "datasets", d.name), version: BigInt(d.version ?? 0) })),
    trainingJob: lineage.trainingJob ?? "",
    run: lineage.run ?? "",
    parentVersion: lineage.parentVersion ? versionName(project, lineage.parentVersion) : "",
  };
}
