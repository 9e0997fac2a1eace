/** A node to draw: its label, its width once fitted (0: not known), the nodes it reads. */
export interface DrawnNode {
  label: string;
  width: number;
  reads: number[];
}

const text = (n: DrawnNode) => (n.width > 0 ? `${n.label} [${n.width}]` : n.label);

export function drawMermaid(nodes: readonly DrawnNode[]): string {
  const quote = (s: string) => `"${s.replace(/"/g, "#quot;")}"`;
  const lines = ["flowchart LR"];
  nodes.forEach((n, i) => lines.push(`  n${i}[${quote(text(n))}]`));
  nodes.forEach((n, i) => n.reads.forEach((r) => lines.push(`  n${r} --> n${i}`)));
  return `${lines.join("\n")}\n`;
}

export function drawDot(nodes: readonly DrawnNode[]): string {
  const quote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  const lines = ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"];
  nodes.forEach((n, i) => lines.push(`  n${i} [label=${quote(text(n))}];`));
  nodes.forEach((n, i) => n.reads.forEach((r) => lines.push(`  n${r} -> n${i};`)));
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** A chain of steps drawn as a graph: X, then each step reading the one before (a Pipeline, or one estimator). */
export function chainDrawing(nFeatures: number, steps: readonly { label: string; nFeatures: number }[]): DrawnNode[] {
  return [
    { label: "X", width: nFeatures, reads: [] },
    // A step's output is as wide as the next one's input.
    ...steps.map((step, i) => ({ label: step.label, width: steps[i + 1]?.nFeatures ?? 0, reads: [i] })),
  ];
}
