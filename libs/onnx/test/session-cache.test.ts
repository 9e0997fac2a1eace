import { describe, expect, it } from "vitest";
import type { InferenceSession } from "onnxruntime-node";
import { MISS, SessionCache } from "../src/session-cache.js";

/** A cache of capacity 2 whose "sessions" are counted as they load and release. */
function counted() {
  const loads: string[] = [];
  const released: string[] = [];
  const cache = new SessionCache(2, async (bytes) => {
    const name = new TextDecoder().decode(bytes);
    loads.push(name);
    return { release: async () => void released.push(name) } as unknown as InferenceSession;
  });
  const use = (key: string, pin = false) => cache.use(key, new TextEncoder().encode(key), async () => key, pin);
  return { cache, loads, released, use };
}

describe("SessionCache", () => {
  it("releases the least recently used session beyond its capacity", async () => {
    const { cache, loads, released, use } = counted();
    for (const key of ["a", "b", "a", "c"]) await use(key);
    expect(loads).toEqual(["a", "b", "c"]);
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual(["b"]);
    expect(await cache.use("b", undefined, async () => "ran")).toBe(MISS);
  });

  it("keeps a pinned session however many others come and go, and lets it go once unpinned", async () => {
    const { cache, loads, released, use } = counted();
    await use("served", true);
    for (const key of ["j1", "j2", "j3", "j4"]) await use(key);
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual(["j1", "j2"]);
    // Still there: a run by key alone (no bytes) finds it.
    expect(await cache.use("served", undefined, async () => "ran")).toBe("ran");
    expect(cache.size).toBe(3);
    // Unpinned, it is the most recently used: j3 goes at once, j4 with the next one.
    cache.unpin("served");
    await use("j5");
    await new Promise((r) => setImmediate(r));
    expect(released).toEqual(["j1", "j2", "j3", "j4"]);
    await use("j6");
    await new Promise((r) => setImmediate(r));
    expect(released).toContain("served");
    expect(loads.filter((k) => k === "served")).toHaveLength(1);
  });

  it("pins a session already loaded without loading it again", async () => {
    const { loads, released, use } = counted();
    await use("m");
    await use("m", true);
    for (const key of ["x", "y", "z"]) await use(key);
    await new Promise((r) => setImmediate(r));
    expect(loads).toEqual(["m", "x", "y", "z"]);
    expect(released).toEqual(["x"]);
  });
});
