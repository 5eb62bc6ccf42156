// Bundles Seam's frontend tools for the example frontend (tests/demo/frontend) with esbuild:
//   node build.mjs          writes both bundles
//   node build.mjs --check  fails if the committed SDK bundle is not what the lock file builds
//
// - tests/demo/frontend/vendor/seam-http.js: Seam's JS SDK (@seamapi/http), which the example
//   page imports as "@seamapi/http" through an import map. Committed, so that the demo works
//   with cargo alone; esbuild's output is the same for the same versions, which --check holds.
// - tests/browser/dist/components.{js,css}: the Seam Components page (React, @seamapi/react),
//   built for the browser test and for the demo's /components page; not committed.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const frontend = fileURLToPath(new URL("../demo/frontend/", import.meta.url));
const check = process.argv.includes("--check");

const common = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  define: { "process.env.NODE_ENV": '"production"' },
  nodePaths: [`${here}node_modules`],
  logLevel: "warning",
};

const sdkPackage = JSON.parse(readFileSync(`${here}node_modules/@seamapi/http/package.json`, "utf8"));
const sdk = await build({
  ...common,
  banner: {
    js: `/*! @seamapi/http ${sdkPackage.version} (${sdkPackage.license} licence), Seam's JS SDK, bundled by tests/browser/build.mjs */`,
  },
  stdin: { contents: 'export * from "@seamapi/http";', resolveDir: here, loader: "js" },
  outfile: `${frontend}vendor/seam-http.js`,
  write: !check,
});
if (check) {
  const built = Buffer.from(sdk.outputFiles[0].contents);
  const committed = readFileSync(`${frontend}vendor/seam-http.js`);
  if (!built.equals(committed)) {
    console.error(
      "tests/demo/frontend/vendor/seam-http.js is not what package-lock.json builds: " +
        "run `npm run build --prefix tests/browser` and commit it",
    );
    process.exit(1);
  }
}

await build({
  ...common,
  entryPoints: [`${frontend}components.jsx`],
  outfile: `${here}dist/components.js`,
  jsx: "automatic",
});
