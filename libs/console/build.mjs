// Bundles the console's browser code (src/app, with the SDK and Connect-web) into dist/ui,
// beside its page and style sheet: static files the server gives out at /ui/.
import { copyFile, mkdir } from "node:fs/promises";
import { build } from "esbuild";

await mkdir("dist/ui", { recursive: true });
await build({
  entryPoints: ["src/app/main.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outfile: "dist/ui/app.js",
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) await copyFile(`src/app/${file}`, `dist/ui/${file}`);
