import { readFileSync } from "node:fs";
const p = JSON.parse(readFileSync(process.argv[2], "utf8"));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map();
const dt = p.timeDeltas; let total = 0;
for (let i = 0; i < p.samples.length; i++) { const id = p.samples[i]; self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)); total += dt[i] ?? 0; }
const incl = new Map(); const selfByName = new Map();
for (const [id, t] of self) {
  const n = byId.get(id); const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
  selfByName.set(key, (selfByName.get(key) ?? 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const c = byId.get(cur); const k = `${c.callFrame.functionName || "(anon)"} ${c.callFrame.url.split("/").slice(-2).join("/")}:${c.callFrame.lineNumber}`;
    if (seen.has(k)) continue; seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t);
  }
}
console.log("total ms", (total / 1000).toFixed(0));
console.log("--- self");
for (const [k, t] of [...selfByName].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((t / 1000).toFixed(0).padStart(7), k);
console.log("--- inclusive");
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 400)) console.log((t / 1000).toFixed(0).padStart(7), k);
