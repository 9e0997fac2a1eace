import { number } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 200;
const PAD = 36;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Colours of the lines, one per series, in turn. */
const COLOURS = ["#b5542a", "#2a6fb5", "#3a8f3a", "#8f3a8a", "#b59a2a", "#2aa6a6", "#6b6b6b", "#d14d72", "#4d5bd1", "#7a4d1f"];

/** Points a line draws at most: a longer history is sampled to them by the server, keeping its shape (a chart is 480 px wide). */
export const CHART_POINTS = 1000;

export interface Series {
  label: string;
  points: readonly { step: number; value: number }[];
}

/** Metrics' values by step as lines on shared axes (runs side by side, as MLflow compares them), with a legend: plain SVG, no chart library. */
export function lineChart(series: readonly Series[]): SVGSVGElement {
  const legendHeight = series.length > 1 ? 16 * series.length : 0;
  const height = HEIGHT + legendHeight;
  const chart = svg("svg", { class: "chart", width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, role: "img" });
  const finite = series.map((s) => s.points.filter((p) => Number.isFinite(p.value)));
  if (finite.every((points) => points.length === 0)) return chart;
  // Loops, not Math.min(...steps): a spread of over ~100,000 values is past the arguments a call takes.
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const points of finite) {
    for (const p of points) {
      [x0, x1] = [Math.min(x0, p.step), Math.max(x1, p.step)];
      [y0, y1] = [Math.min(y0, p.value), Math.max(y1, p.value)];
    }
  }
  const x = (s: number) => PAD + ((s - x0) / (x1 - x0 || 1)) * (WIDTH - 2 * PAD);
  const y = (v: number) => HEIGHT - PAD - ((v - y0) / (y1 - y0 || 1)) * (HEIGHT - 2 * PAD);
  const label = (text: string, attrs: Record<string, number | string>) => {
    const t = svg("text", attrs);
    t.textContent = text;
    chart.append(t);
  };
  finite.forEach((points, i) => {
    if (points.length === 0) return;
    const colour = COLOURS[i % COLOURS.length]!;
    const d = points.map((p, k) => `${k ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d, stroke: colour }));
    if (legendHeight) {
      chart.append(svg("rect", { x: PAD, y: HEIGHT + 16 * i, width: 10, height: 10, fill: colour }));
      label(series[i]!.label, { x: PAD + 16, y: HEIGHT + 16 * i + 9 });
    }
  });
  label(number(y1), { x: 2, y: PAD });
  label(number(y0), { x: 2, y: HEIGHT - PAD });
  label(`step ${x0}`, { x: PAD, y: HEIGHT - 8 });
  label(`step ${x1}`, { x: WIDTH - PAD, y: HEIGHT - 8, "text-anchor": "end" });
  return chart;
}
