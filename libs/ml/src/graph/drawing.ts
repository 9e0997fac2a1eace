import type { Estimator } from "../estimator.js";
import { chainDrawing, drawDot, drawMermaid } from "./draw.js";

type Drawable = Estimator & { toMermaid?(): string; toDot?(): string };

/** Any estimator drawn: a Graph or a Pipeline as itself, another as X feeding it. */
export function drawModel(model: Estimator, format: "mermaid" | "dot"): string {
  const own = (model as Drawable)[format === "mermaid" ? "toMermaid" : "toDot"];
  if (typeof own === "function") return own.call(model);
  const nodes = chainDrawing(model.nFeatures, [{ label: model.kind, nFeatures: 0 }]);
  return format === "mermaid" ? drawMermaid(nodes) : drawDot(nodes);
}
