import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { queueFor } from "../src/queues.js";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { failure, startHarness, submitNoop, type Harness } from "./harness.js";

describe("executors: heartbeats, liveness and label queues", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness({ settings: { heartbeatMs: 1_000 } })));
  afterEach(async () => h.close());

  const listed = async () => (await h.runtime.listExecutors({})).executors;

  it("a heartbeat registers the executor as it describes itself, with normalized labels and the scheduler's time", async () => {
    h.clock.freeze(new Date("2030-01-02T03:04:05.678Z"));
    const startTime = { seconds: 1_700_000_000n, nanos: 0 };
    const res = await h.executor.heartbeat({
      executor: { name: "executors/e1", labels: ["gpu", "cuda=12", "gpu"], slots: 4, host: "box-1", startTime, runningJobs: [] },
    });
    expect(durationMs(res.interval!)).toBe(1_000);
    expect(res.cancelledJobs).toEqual([]);
    const [e1, ...rest] = await listed();
    expect(rest).toEqual([]);
    expect(e1).toMatchObject({ name: "executors/e1", labels: ["cuda=12", "gpu"], slots: 4, host: "box-1", startTime });
    expect(timestampDate(e1!.lastHeartbeat!).toISOString()).toBe("2030-01-02T03:04:05.678Z");

    // A later heartbeat replaces what the executor said before.
    await h.executor.heartbeat({ executor: { name: "executors/e1", labels: ["cpu"], slots: 1, host: "box-1", runningJobs: ["projects/default/jobs/x"] } });
    expect(await listed()).toMatchObject([{ name: "executors/e1", labels: ["cpu"], slots: 1, runningJobs: ["projects/default/jobs/x"] }]);
  });

  it("lists only executors heard from within three heartbeat intervals; a new heartbeat brings one back", async () => {
    await h.executor.heartbeat({ executor: { name: "executors/old", slots: 1 } });
    h.clock.advance(2_000);
    await h.executor.heartbeat({ executor: { name: "executors/new", slots: 1 } });
    expect((await listed()).map((e) => e.name)).toEqual(["executors/new", "executors/old"]);

    h.clock.advance(1_500); // old: 3.5 s ago, new: 1.5 s ago
    expect((await listed()).map((e) => e.name)).toEqual(["executors/new"]);

    h.clock.advance(2_000); // new: 3.5 s ago
    expect(await listed()).toEqual([]);

    await h.executor.heartbeat({ executor: { name: "executors/old", slots: 1 } });
    expect((await listed()).map((e) => e.name)).toEqual(["executors/old"]);
  });

  it("forgets executors not heard from for a day when a new one registers, so restarts do not pile records up", async () => {
    const records = async () => (await h.metadata.collection("runtime_executors").list()).map((r) => r.key);
    await h.executor.heartbeat({ executor: { name: "executors/host-101", slots: 1 } });
    await h.executor.heartbeat({ executor: { name: "executors/host-102", slots: 1 } });
    h.clock.advance(23 * 3_600_000);
    await h.executor.heartbeat({ executor: { name: "executors/host-102", slots: 1 } }); // still running
    h.clock.advance(2 * 3_600_000);
    await h.executor.heartbeat({ executor: { name: "executors/host-103", slots: 1 } }); // a restart: a new name
    expect(await records()).toEqual(["executors/host-102", "executors/host-103"]);
    // One that comes back after all registers again.
    await h.executor.heartbeat({ executor: { name: "executors/host-101", slots: 1 } });
    expect((await listed()).map((e) => e.name)).toEqual(["executors/host-101", "executors/host-103"]);
  });

  it("pages through the live executors", async () => {
    for (const id of ["a", "b", "c", "d", "e"]) await h.executor.heartbeat({ executor: { name: `executors/${id}`, slots: 1 } });
    h.clock.advance(2_500);
    await h.executor.heartbeat({ executor: { name: "executors/c", slots: 1 } });
    await h.executor.heartbeat({ executor: { name: "executors/e", slots: 1 } });
    h.clock.advance(1_000); // a, b, d are gone
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await h.runtime.listExecutors({ pageSize: 1, pageToken });
      expect(page.executors.length).toBeLessThanOrEqual(1);
      seen.push(...page.executors.map((e) => e.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(["executors/c", "executors/e"]);
  });

  it("answers with the queues whose required labels the executor has, and no others", async () => {
    await submitNoop(h);
    await submitNoop(h, { requiredLabels: ["gpu"] });
    await submitNoop(h, { requiredLabels: ["gpu", "mem=big"] });
    await submitNoop(h, { requiredLabels: ["cpu"] });
    await submitNoop(h, { requiredLabels: ["gpu"] }); // same queue as before

    const queuesOf = async (labels: string[]) => {
      const { queues } = await h.executor.heartbeat({ executor: { name: "executors/e1", labels, slots: 1 } });
      return queues.map((q) => ({ subject: q.subject, consumer: q.consumer, labels: q.labels })).sort((a, b) => a.labels.join().localeCompare(b.labels.join()));
    };
    const q = (labels: string[]) => ({ ...queueFor(labels) });
    expect(await queuesOf([])).toEqual([q([])]);
    expect(await queuesOf(["gpu"])).toEqual([q([]), q(["gpu"])]);
    expect(await queuesOf(["mem=big", "gpu", "x"])).toEqual([q([]), q(["gpu"]), q(["gpu", "mem=big"])]);
    expect(await queuesOf(["cpu", "gpu", "mem=big"])).toEqual([q([]), q(["cpu"]), q(["gpu"]), q(["gpu", "mem=big"])]);
    expect(await queuesOf(["mem=big"])).toEqual([q([])]);
    // Every queue has its own subject and its own shared consumer.
    const all = await queuesOf(["cpu", "gpu", "mem=big"]);
    expect(new Set(all.map((x) => x.subject)).size).toBe(4);
    expect(new Set(all.map((x) => x.consumer)).size).toBe(4);
  });

  it("before any job is submitted there are no queues; a new label set's queue appears with its first job", async () => {
    expect((await h.executor.heartbeat({ executor: { name: "executors/e1", labels: ["gpu"], slots: 1 } })).queues).toEqual([]);
    await submitNoop(h, { requiredLabels: ["gpu"] });
    const { queues } = await h.executor.heartbeat({ executor: { name: "executors/e1", labels: ["gpu"], slots: 1 } });
    expect(queues.map((x) => x.labels)).toEqual([["gpu"]]);
  });

  it("lists, among the jobs the executor says it runs, those that ended or no longer exist", async () => {
    const running = await submitNoop(h);
    const cancelled = await submitNoop(h);
    const queued = await submitNoop(h);
    await h.executor.startAttempt({ name: running.name, executor: "executors/e1" });
    await h.executor.startAttempt({ name: cancelled.name, executor: "executors/e1" });
    await h.runtime.cancelJob({ name: cancelled.name });
    const { cancelledJobs } = await h.executor.heartbeat({
      executor: { name: "executors/e1", slots: 4, runningJobs: [running.name, cancelled.name, queued.name, "projects/default/jobs/gone"] },
    });
    expect(cancelledJobs).toEqual([cancelled.name, "projects/default/jobs/gone"]);
  });

  it("rejects a heartbeat without an executor, with a bad name, bad labels or no slots, and registers none of them", async () => {
    expect(await failure(h.executor.heartbeat({}))).toMatchObject({ code: Code.InvalidArgument, reason: "EXECUTOR_REQUIRED" });
    expect(await failure(h.executor.heartbeat({ executor: { name: "e1", slots: 1 } }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(h.executor.heartbeat({ executor: { name: "executors/a/b", slots: 1 } }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(h.executor.heartbeat({ executor: { name: "executors/e1", labels: ["white space"], slots: 1 } }))).toMatchObject({
      code: Code.InvalidArgument,
      reason: "INVALID_LABEL",
    });
    expect(await failure(h.executor.heartbeat({ executor: { name: "executors/e1", slots: 0 } }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_SLOTS" });
    expect(await listed()).toEqual([]);
    expect(await h.metadata.collection("runtime_executors").list()).toEqual([]);
  });
});
