// Builds the web page (agent/src/ui: index.html + style.css + app.ts) into strings that
// agent/build.mjs inlines into the single bundle. Also used by test/ui to serve the same page from
// source. Deterministic: esbuild output and file contents only, no timestamps.
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const dir = new URL(".", import.meta.url).pathname;

/** @returns {Promise<{ html: string; css: string; js: string }>} */
export async function buildPage() {
  const out = await build({
    entryPoints: [`${dir}app.ts`],
    bundle: true,
    minify: true,
    write: false,
    format: "iife",
    target: ["chrome100", "firefox100", "safari15"],
    legalComments: "none",
    logLevel: "warning",
  });
  const js = out.outputFiles[0]?.text ?? "";
  const css = (
    await build({
      entryPoints: [`${dir}style.css`],
      bundle: true,
      minify: true,
      write: false,
      logLevel: "warning",
    })
  ).outputFiles[0]?.text;
  const html = readFileSync(`${dir}index.html`, "utf8");
  // A "</script" inside the script would end it early in the HTML parser.
  return { html, css: (css ?? "").trim(), js: js.trim().replace(/<\/(script)/gi, "<\\/$1") };
}
