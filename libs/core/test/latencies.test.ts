import { describe, expect, it } from "vitest";
import { Latencies } from "../src/index.js";

describe("Latencies", () => {
  it("gives the median and the 99th percentile of the last durations, nearest rank", () => {
    const l = new Latencies(100);
    expect(l.quantile(0.5)).toBe(0);
    for (let i = 1; i <= 100; i++) l.add(i);
    expect(l.quantile(0.5)).toBe(50);
    expect(l.quantile(0.99)).toBe(99);
    expect(l.quantile(1)).toBe(100);
  });

  it("forgets the oldest beyond its size", () => {
    const l = new Latencies(4);
    for (const ms of [100, 100, 100, 100, 1, 2, 3]) l.add(ms);
    // Kept: 100, 1, 2, 3.
    expect(l.quantile(0.5)).toBe(2);
    expect(l.quantile(0.99)).toBe(100);
    l.add(4);
    expect(l.quantile(0.99)).toBe(4);
  });
});
