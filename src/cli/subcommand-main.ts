/**
 * Entry for tslirp's own subcommands (`tslirp run …`, `tslirp stats …`), which bin/tslirp.js picks
 * before the slirp4netns-compatible command line (whose positionals are a PID or a path, never these
 * words). Runs on import, like main.ts; exits with the subcommand's status.
 */
const [subcommand, ...rest] = process.argv.slice(2);

async function dispatch(): Promise<number> {
  switch (subcommand) {
    case 'run':
      return (await import('./run-command.js')).runMain(rest);
    case 'stats':
      return (await import('./stats-command.js')).statsMain(rest);
    default:
      process.stderr.write(`tslirp: unknown subcommand "${subcommand}"\n`);
      return 1;
  }
}

dispatch().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tslirp: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
