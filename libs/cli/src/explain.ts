import type { JobExplanationInfo } from "@kiln/sdk";
import { explanationMethodText, selectionText } from "@kiln/sdk";
import { formatMetric } from "./job-show.js";
import { printTable, type Output } from "./output.js";

/** Width of the longest bar in an importance table. */
const BAR_WIDTH = 24;
/** Features named in a one-line summary. */
const NAMED_FEATURES = 3;

/**
 * An EXPLAIN job's summary for people: where its background came from, then for each output
 * explained its base value and each feature's mean |Shapley value| as a bar (SHAP's bar plot).
 */
export function printExplanation(o: Output, e: JobExplanationInfo, title: string): void {
  o.out.write(`${title}, against ${e.backgroundRows} background rows of ${selectionText(e.background)} (${explanationMethodText(e)})\n`);
  for (const output of e.outputs) {
    o.out.write(`\n${output.output === "prediction" ? output.output : `class ${output.output}`}: base value ${formatMetric(output.baseValue)}, ${output.rows} rows\n`);
    const largest = Math.max(...output.features.map((f) => f.meanAbs), 0);
    printTable(
      o,
      output.features.map((f) => ({
        feature: f.feature,
        "mean |shap|": formatMetric(f.meanAbs),
        "mean shap": `${f.mean > 0 ? "+" : ""}${formatMetric(f.mean)}`,
        "": largest > 0 ? "█".repeat(Math.max(f.meanAbs > 0 ? 1 : 0, Math.round((f.meanAbs / largest) * BAR_WIDTH))) : "",
      })),
      ["feature", "mean |shap|", "mean shap", ""],
    );
  }
}

/** "most important: age (2.1), income (0.93), region (0.2)": the features that move the outputs most over every row. */
export function explanationText(e: JobExplanationInfo): string {
  const totals = new Map<string, number>();
  const rows = e.outputs.reduce((s, o) => s + o.rows, 0);
  for (const output of e.outputs) for (const f of output.features) totals.set(f.feature, (totals.get(f.feature) ?? 0) + f.meanAbs * output.rows);
  const ranked = [...totals].map(([feature, sum]) => [feature, rows ? sum / rows : 0] as const).sort((a, b) => b[1] - a[1]);
  if (!ranked.length) return "";
  const named = ranked.slice(0, NAMED_FEATURES).map(([f, v]) => `${f} (${formatMetric(v)})`);
  return `most important: ${named.join(", ")}${ranked.length > NAMED_FEATURES ? `, and ${ranked.length - NAMED_FEATURES} more` : ""}`;
}
