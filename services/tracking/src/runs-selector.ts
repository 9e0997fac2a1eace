import { invalidArgument } from "@kiln/core";
import type { RunSelector } from "@kiln/storage";

/** "latest" (default), "all", "1,3", "2..5" → a selector ("latest" resolved by the caller). */
export function parseRuns(text: string, latest: number, fallback: "latest" | "all" = "latest"): RunSelector {
  const t = text.trim() || fallback;
  if (t === "all") return { all: true };
  if (t === "latest") return { runs: latest > 0 ? [latest] : [] };
  const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(t);
  if (range) return { from: Number(range[1]), to: Number(range[2]) };
  if (/^\d+(\s*,\s*\d+)*$/.test(t)) return { runs: t.split(",").map((n) => Number(n.trim())) };
  throw invalidArgument("INVALID_RUNS", `runs is "latest", "all", a list "1,3" or a range "2..5"; got "${t}"`);
}
