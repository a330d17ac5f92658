// Injected by esbuild into the CommonJS bundles of the CLI (package.json "bundle"): stands for
// import.meta.url, which the sources use to find the package root (native-addon.ts, main.ts) and
// which CommonJS lacks. The bundles sit in dist/bundle/, as deep as the modules in dist/cli/.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
