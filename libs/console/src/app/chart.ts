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

/** A metric's values by step as a line, with its range on the axes: plain SVG, no chart library. */
export function lineChart(points: readonly { step: number; value: number }[]): SVGSVGElement {
  const chart = svg("svg", { class: "chart", width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  const finite = points.filter((p) => Number.isFinite(p.value));
  if (finite.length === 0) return chart;
  const steps = finite.map((p) => p.step);
  const values = finite.map((p) => p.value);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.min(...values), Math.max(...values)];
  const x = (s: number) => PAD + ((s - x0) / (x1 - x0 || 1)) * (WIDTH - 2 * PAD);
  const y = (v: number) => HEIGHT - PAD - ((v - y0) / (y1 - y0 || 1)) * (HEIGHT - 2 * PAD);
  const d = finite.map((p, i) => `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  chart.append(svg("path", { d }));
  const label = (text: string, attrs: Record<string, number | string>) => {
    const t = svg("text", attrs);
    t.textContent = text;
    chart.append(t);
  };
  label(number(y1), { x: 2, y: PAD });
  label(number(y0), { x: 2, y: HEIGHT - PAD });
  label(`step ${x0}`, { x: PAD, y: HEIGHT - 8 });
  label(`step ${x1}`, { x: WIDTH - PAD, y: HEIGHT - 8, "text-anchor": "end" });
  return chart;
}
