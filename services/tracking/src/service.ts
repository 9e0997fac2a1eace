import type { ServiceImpl } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { callerOf, parseParent } from "@kiln/core";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { parseRequestFilter, scanPage } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { createExperiment, deleteExperiment, getExperiment, matchesExperimentFilter } from "./experiments.js";
import { logEvents } from "./log.js";
import { parseExperimentName } from "./names.js";
import { metricHistory, queryEvents, searchRunSummaries, summarizeRuns } from "./query.js";
import { collections, experimentToProto, runToProto } from "./records.js";
import { endRun, getRunByName, startRun } from "./runs.js";
import { getTrace, listTraces } from "./traces.js";

export function createTrackingService(deps: TrackingDeps): ServiceImpl<typeof TrackingService> {
  const { experiments, runs } = collections(deps);
  return {
    async createExperiment(req) {
      return { experiment: experimentToProto(await createExperiment(deps, req.parent, req.experimentId, req.description, req.labels)) };
    },
    async getExperiment(req) {
      return { experiment: experimentToProto((await getExperiment(deps, req.name)).record) };
    },
    async listExperiments(req) {
      const parent = parseParent(req.parent);
      const filter = req.filter ? parseRequestFilter(req.filter) : undefined;
      const page = await scanPage(experiments, {
        prefix: `${parent}/experiments/`,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        filterText: req.filter,
        matches: filter && ((e) => matchesExperimentFilter(filter, e)),
      });
      return { experiments: page.items.map(experimentToProto), nextPageToken: page.nextPageToken };
    },
    async deleteExperiment(req) {
      await deleteExperiment(deps, req.name);
      return {};
    },
    async startRun(req, ctx) {
      return { run: runToProto(await startRun(deps, req, callerOf(ctx))) };
    },
    async getRun(req) {
      return { run: runToProto(await getRunByName(deps, req.name)) };
    },
    async listRuns(req) {
      const { name } = parseExperimentName(req.parent);
      await getExperiment(deps, name);
      const page = await scanPage(runs, { prefix: `${name}/runs/`, pageSize: req.pageSize, pageToken: req.pageToken, filterText: "", reverse: true });
      return { runs: page.items.map(runToProto), nextPageToken: page.nextPageToken };
    },
    async endRun(req) {
      return { run: runToProto(await endRun(deps, req.name, req.status)) };
    },
    logEvents: (requests) => logEvents(deps, requests),
    appendEvents: (req) => logEvents(deps, createAsyncIterable(req.batches)),
    queryEvents: (req) => queryEvents(deps, req),
    getMetricHistory: (req) => metricHistory(deps, req),
    summarizeRuns: (req) => summarizeRuns(deps, req),
    searchRuns: (req) => searchRunSummaries(deps, req),
    listTraces: (req) => listTraces(deps, req),
    async getTrace(req) {
      return { trace: await getTrace(deps, req) };
    },
  };
}
