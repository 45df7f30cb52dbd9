// Copies the browser builds the console's pages load into ../static/vendor, with a
// manifest of their SHA-256 digests (the pages load them with Subresource Integrity).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "vendor");
const files = {
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "chart.umd.min.js": "node_modules/chart.js/dist/chart.umd.min.js",
};
mkdirSync(out, { recursive: true });
const manifest = {};
for (const [name, from] of Object.entries(files)) {
  copyFileSync(join(here, from), join(out, name));
  const digest = createHash("sha384").update(readFileSync(join(out, name))).digest("base64");
  manifest[name] = `sha384-${digest}`;
}
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`console assets: ${Object.keys(files).length} files in ${out}`);
