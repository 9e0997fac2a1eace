import { describe, expect, it, vi } from "vitest";
import { MemoryStream } from "../src/memory-stream.js";
import { subjectMatcher } from "../src/subjects.js";

const bytes = new Uint8Array([1]);

describe("the in-process stream's message lookup", () => {
  it("matches subjects as JetStream does, exact, with * and with a trailing >", () => {
    const cases: [string, string, boolean][] = [
      ["a.b", "a.b", true],
      ["a.b", "a.b.c", false],
      ["a.*", "a.b", true],
      ["a.*", "a.b.c", false],
      ["a.>", "a.b.c", true],
      ["a.>", "a", false],
      ["a.>", "ab.c", false],
      ["a.*.c", "a.b.c", true],
      ["a.*.>", "a.b", false],
      ["a.*.>", "a.b.c.d", true],
      [">", "x", true],
    ];
    for (const [filter, subject, expected] of cases) expect([filter, subject, subjectMatcher(filter)(subject)]).toEqual([filter, subject, expected]);
  });

  it("finds a subject's messages from any sequence, past messages a work queue removed out of order", () => {
    const stream = new MemoryStream({ name: "S", subjects: ["r.>"], retention: "workqueue" });
    for (let i = 0; i < 3_000; i++) stream.append(`r.${i % 3}`, bytes, {});
    expect(stream.firstFrom(1, "r.1")?.seq).toBe(2);
    expect(stream.firstFrom(3, "r.1")?.seq).toBe(5);
    // Acked out of order: every second message of r.1, then the first 1,800 of all.
    for (let seq = 2; seq <= 3_000; seq += 6) stream.remove(seq);
    expect(stream.firstFrom(1, "r.1")?.seq).toBe(5);
    for (let seq = 1; seq <= 1_800; seq++) stream.remove(seq);
    expect(stream.firstFrom(1, "r.1")?.seq).toBe(1_805); // 1,802 went in the first round
    expect(stream.firstFrom(1, "r.*")?.seq).toBe(1_801); // a wildcard reads the stream in order
    expect(stream.firstFrom(3_001, "r.1")).toBeUndefined();
    expect(stream.firstFrom(1, "r.9")).toBeUndefined();
    // Every message of r.1 gone, in any order: none is found again.
    for (let seq = 2_999; seq > 1_800; seq -= 3) stream.remove(seq);
    expect(stream.firstFrom(1, "r.1")).toBeUndefined();
    expect(stream.firstFrom(1, "r.2")?.seq).toBe(1_803);
  });

  it("forgets a subject once its messages expired (one subject a job must not add up)", () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const stream = new MemoryStream({ name: "S", subjects: ["r.>"], maxAgeMs: 1_000 });
      for (let job = 0; job < 100; job++) stream.append(`r.${job}`, bytes, {});
      vi.setSystemTime(2_000);
      stream.append("r.new", bytes, {});
      expect(stream.firstFrom(1, "r.5")).toBeUndefined();
      expect(stream.firstFrom(1, "r.new")?.seq).toBe(101);
      expect((stream as unknown as { bySubject: Map<string, unknown> }).bySubject.size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
