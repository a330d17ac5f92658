#!/usr/bin/env node
// tslirp executable: runs the compiled CLI (npm run build produces dist/).
// `tslirp run …` and `tslirp stats …` are ours; anything else is the slirp4netns-compatible CLI.
// Each is one bundled CommonJS file (dist/bundle/*.cjs, npm run bundle): loaded as some 70 separate
// ES modules, the CLI cost ~5 MB more resident memory for the loader's work (and the optimizing
// compiler it woke up), and as one ES module it still started slower than as CommonJS (the ES
// loader, and its facades of node:fs and the like, which load every stream class; README, Start-up).
// dist/cli/ is the fallback while only tsc has run.
import { existsSync } from 'node:fs';

const subcommand = process.argv[2];
const entry = subcommand === 'run' || subcommand === 'stats' ? 'subcommand-main' : 'main';
const bundled = new URL(`../dist/bundle/${entry}.cjs`, import.meta.url);
await import(existsSync(bundled) ? bundled.href : `../dist/cli/${entry}.js`);
