import { invalidArgument, notFound } from "@kiln/core";
import type { RunSelector } from "@kiln/storage";

/**
 * "latest" (default), "all", "1,3", "2..5" → a selector ("latest" resolved by the caller).
 * Runs count from 1 up to the experiment's latest: a run named past it is NotFound, not an
 * empty answer that reads like a run that logged nothing; a range past it too.
 */
export function parseRuns(text: string, latest: number, fallback: "latest" | "all" = "latest"): RunSelector {
  const t = text.trim() || fallback;
  if (t === "all") return { all: true };
  if (t === "latest") return { runs: latest > 0 ? [latest] : [] };
  const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(t);
  if (range) {
    const [from, to] = [Number(range[1]), Number(range[2])];
    if (from < 1 || from > to) throw invalidArgument("INVALID_RUNS", `runs ${t}: a range counts from 1 and goes up ("2..5")`);
    if (from > latest) throw noSuchRuns(`runs ${t}`, latest);
    return { from, to };
  }
  if (/^\d+(\s*,\s*\d+)*$/.test(t)) {
    const runs = t.split(",").map((n) => Number(n.trim()));
    if (runs.some((n) => n < 1)) throw invalidArgument("INVALID_RUNS", `runs ${t}: runs count from 1`);
    const missing = runs.find((n) => n > latest);
    if (missing !== undefined) throw noSuchRuns(`run ${missing}`, latest);
    return { runs };
  }
  throw invalidArgument("INVALID_RUNS", `runs is "latest", "all", a list "1,3" or a range "2..5"; got "${t}"`);
}

function noSuchRuns(what: string, latest: number) {
  return notFound("RUN_NOT_FOUND", `no ${what}: the experiment has ${latest === 0 ? "no runs" : latest === 1 ? "run 1" : `runs 1 to ${latest}`}`);
}
