import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { scanMerged, type MetadataStore } from "../src/index.js";

export type MakeMetadataStore = () => Promise<{ store: MetadataStore; cleanup: () => Promise<void> }>;

/** The behaviour every metadata backend must have; services rely on nothing else. */
export function describeMetadataStore(name: string, make: MakeMetadataStore, options: { skip?: boolean } = {}): void {
  describe.skipIf(options.skip)(`metadata store conformance: ${name}`, () => {
    let store: MetadataStore;
    let cleanup: () => Promise<void>;
    let n = 0;
    const col = <T>() => store.collection<T>(`c${Date.now().toString(36)}_${n++}`);
    beforeEach(async () => ({ store, cleanup } = await make()));
    afterEach(async () => cleanup());

    it("creates, gets, updates with a revision, deletes", async () => {
      const c = col<{ v: number; tags: string[] }>();
      expect(await c.get("a")).toBeUndefined();
      expect(await c.create("a", { v: 1, tags: ["x"] })).toEqual({ key: "a", rev: 1, value: { v: 1, tags: ["x"] } });
      expect(await c.get("a")).toEqual({ key: "a", rev: 1, value: { v: 1, tags: ["x"] } });
      expect(await c.update("a", { v: 2, tags: [] }, 1)).toEqual({ key: "a", rev: 2, value: { v: 2, tags: [] } });
      expect((await c.get("a"))?.value.v).toBe(2);
      expect(await c.delete("a", 1)).toBe(false); // stale revision
      expect(await c.delete("a", 2)).toBe(true);
      expect(await c.delete("a")).toBe(false);
      expect(await c.get("a")).toBeUndefined();
    });

    it("refuses a duplicate create, a stale update and an update of a missing key", async () => {
      const c = col<number>();
      await c.create("k", 1);
      await expect(c.create("k", 2)).rejects.toMatchObject({ code: Code.AlreadyExists, reason: "ALREADY_EXISTS" });
      await c.update("k", 3, 1);
      await expect(c.update("k", 4, 1)).rejects.toMatchObject({ code: Code.Aborted, reason: "REVISION_CONFLICT" });
      await expect(c.update("missing", 1, 1)).rejects.toMatchObject({ code: Code.NotFound, reason: "NOT_FOUND" });
      expect((await c.get("k"))?.value).toBe(3);
    });

    it("gets, creates and updates many at once", async () => {
      const c = col<number>();
      expect(await c.createMany([{ key: "a", value: 1 }, { key: "b", value: 2 }])).toEqual([
        { key: "a", rev: 1, value: 1 },
        { key: "b", rev: 1, value: 2 },
      ]);
      expect(await c.getMany(["b", "missing", "a"])).toEqual([{ key: "b", rev: 1, value: 2 }, undefined, { key: "a", rev: 1, value: 1 }]);
      expect(await c.getMany([])).toEqual([]);
      const results = await c.updateMany([
        { key: "a", value: 10, expectedRev: 1 },
        { key: "b", value: 20, expectedRev: 7 },
        { key: "z", value: 30, expectedRev: 1 },
      ]);
      expect(results).toEqual([{ key: "a", rev: 2, value: 10 }, "conflict", "missing"]);
      expect((await c.getMany(["a", "b"])).map((s) => s?.value)).toEqual([10, 2]);
    });

    it("creates many all or none: one existing key leaves nothing new", async () => {
      const c = col<number>();
      await c.create("c", 1);
      await expect(c.createMany([{ key: "a", value: 1 }, { key: "b", value: 1 }, { key: "c", value: 2 }, { key: "d", value: 1 }])).rejects.toMatchObject({
        code: Code.AlreadyExists,
        reason: "ALREADY_EXISTS",
        message: expect.stringContaining("c already exists"),
      });
      expect(await c.getMany(["a", "b", "c", "d"])).toEqual([undefined, undefined, { key: "c", rev: 1, value: 1 }, undefined]);
      expect(await c.createMany([])).toEqual([]);
    });

    it("lists in key order with prefix, after, reverse and limit; counts; deletes by prefix", async () => {
      const c = col<string>();
      const keys = ["p/a/1", "p/a/2", "p/a/10", "p/b/1", "q/1", "p/a/3"];
      for (const k of keys) await c.create(k, k.toUpperCase());
      const list = async (o: Parameters<typeof c.list>[0]) => (await c.list(o)).map((r) => r.key);
      expect(await list({})).toEqual([...keys].sort());
      expect(await list({ prefix: "p/a/" })).toEqual(["p/a/1", "p/a/10", "p/a/2", "p/a/3"]);
      expect(await list({ prefix: "p/a/", after: "p/a/10" })).toEqual(["p/a/2", "p/a/3"]);
      expect(await list({ prefix: "p/a/", reverse: true, limit: 2 })).toEqual(["p/a/3", "p/a/2"]);
      expect(await list({ prefix: "p/a/", reverse: true, after: "p/a/2" })).toEqual(["p/a/10", "p/a/1"]);
      expect(await list({ prefix: "p/", limit: 1 })).toEqual(["p/a/1"]);
      expect((await c.list({ prefix: "q/" }))[0].value).toBe("Q/1");
      expect(await c.count("p/")).toBe(5);
      expect(await c.count()).toBe(6);
      expect(await c.deletePrefix("p/a/")).toBe(4);
      expect(await list({})).toEqual(["p/b/1", "q/1"]);
    });

    it("of 20 concurrent creates of one key exactly one wins", async () => {
      const c = col<number>();
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c.create("race", i)));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(results.filter((r) => r.status === "rejected").every((r) => (r as PromiseRejectedResult).reason.code === Code.AlreadyExists)).toBe(true);
    });

    it("20 concurrent compare-and-set increments lose nothing", async () => {
      const c = col<number>();
      await c.create("counter", 0);
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (;;) {
            const cur = (await c.get("counter"))!;
            try {
              await c.update("counter", cur.value + 1, cur.rev);
              return;
            } catch (e) {
              if ((e as { code?: Code }).code !== Code.Aborted) throw e;
            }
          }
        }),
      );
      expect(await c.get("counter")).toMatchObject({ value: 20, rev: 21 });
    });

    it("keeps JSON values as they are, with unicode keys", async () => {
      const c = col<unknown>();
      const value = { s: "ü ✓ \u0000 end", n: 1.5, neg: -3, b: false, nil: null, arr: [1, [2, { x: "y" }]] };
      await c.create("projects/default/datasets/ñame", value);
      expect((await c.get("projects/default/datasets/ñame"))?.value).toEqual(value);
    });

    it("merges streams read in key order into one order, page after page (scanMerged)", async () => {
      const c = col<number>();
      // Three streams: times every 2 in a/, every 3 in b/ (some the same as a's), none in c/.
      const key = (prefix: string, t: number) => `${prefix}${String(t).padStart(4, "0")}`;
      await c.createMany([...Array.from({ length: 60 }, (_, i) => ({ key: key("a/", 2 * i), value: 2 * i })), ...Array.from({ length: 40 }, (_, i) => ({ key: key("b/", 3 * i), value: 3 * i }))]);
      const prefixes = ["a/", "b/", "c/"];
      type Item = { stream: number; t: number };
      const kept = (t: number) => t % 5 !== 0; // what select passes over
      for (const reverse of [false, true]) {
        const compare = (x: Item, y: Item) => (reverse ? y.t - x.t : x.t - y.t) || x.stream - y.stream;
        const expected = [...Array.from({ length: 60 }, (_, i) => ({ stream: 0, t: 2 * i })), ...Array.from({ length: 40 }, (_, i) => ({ stream: 1, t: 3 * i }))].filter((x) => kept(x.t)).sort(compare);
        for (const pageSize of [1, 7, 1000]) {
          const read: Item[] = [];
          let pageToken = "";
          do {
            const page = await scanMerged(c, { prefixes, pageSize, pageToken, filterText: "t % 5 != 0", reverse }, async (stream, rows) => rows.map((r) => (kept(r.value) ? { stream, t: r.value } : undefined)), compare);
            expect(page.items.length).toBeLessThanOrEqual(pageSize);
            read.push(...page.items);
            pageToken = page.nextPageToken;
          } while (pageToken);
          expect(read, `reverse ${reverse}, pages of ${pageSize}`).toEqual(expected);
        }
      }
      const select = async (stream: number, rows: { value: number }[]) => rows.map((r) => ({ stream, t: r.value }));
      const first = await scanMerged(c, { prefixes, pageSize: 5, pageToken: "", filterText: "all" }, select, (x, y) => x.t - y.t || x.stream - y.stream);
      await expect(scanMerged(c, { prefixes, pageSize: 5, pageToken: first.nextPageToken, filterText: "other" }, select, (x, y) => x.t - y.t)).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(scanMerged(c, { prefixes: ["a/"], pageSize: 5, pageToken: first.nextPageToken, filterText: "all" }, select, (x, y) => x.t - y.t)).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(scanMerged(c, { prefixes, pageSize: 5, pageToken: "bm90IGEgdG9rZW4", filterText: "all" }, select, (x, y) => x.t - y.t)).rejects.toMatchObject({ code: Code.InvalidArgument });
    });
  });
}
