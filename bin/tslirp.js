#!/usr/bin/env node
// tslirp executable: runs the compiled CLI (npm run build produces dist/).
// `tslirp run …` and `tslirp stats …` are ours; anything else is the slirp4netns-compatible CLI.
// Each is one bundled file (dist/bundle/, npm run bundle): loaded as some 70 separate ES modules,
// the CLI cost ~5 MB more resident memory for the loader's work (and the optimizing compiler it
// woke up). dist/cli/ is the fallback while only tsc has run.
import { existsSync } from 'node:fs';

const subcommand = process.argv[2];
const entry = subcommand === 'run' || subcommand === 'stats' ? 'subcommand-main.js' : 'main.js';
const bundled = new URL(`../dist/bundle/${entry}`, import.meta.url);
await import(existsSync(bundled) ? bundled.href : `../dist/cli/${entry}`);
