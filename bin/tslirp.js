#!/usr/bin/env node
// tslirp executable: runs the compiled CLI (npm run build produces dist/).
// `tslirp run …` and `tslirp stats …` are ours; anything else is the slirp4netns-compatible CLI.
const subcommand = process.argv[2];
if (subcommand === 'run' || subcommand === 'stats') await import('../dist/cli/subcommand-main.js');
else await import('../dist/cli/main.js');
