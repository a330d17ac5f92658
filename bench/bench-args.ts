/**
 * The command line every benchmark shares: words are checked against the benchmark's pattern before
 * anything runs (an unknown word must not start a ten-minute run), `--help`/`-h` prints the usage, and
 * `--name=VALUE` options are read as text or numbers.
 */

/** Exits with the usage (status 0 for --help/-h, 2 for an unknown word) unless every word matches accepted. */
export function rejectUnknownArgs(argv: readonly string[], accepted: RegExp, usage: string): void {
  const unknown = argv.find((a) => !accepted.test(a));
  if (unknown === undefined) return;
  const help = unknown === '--help' || unknown === '-h';
  console.error(help ? usage : `unknown argument "${unknown}"\n${usage}`);
  process.exit(help ? 0 : 2);
}

/** The value of --name=VALUE, or undefined when absent. */
export function textArg(argv: readonly string[], name: string): string | undefined {
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** The number of --name=N, or fallback when absent. */
export function numberArg(argv: readonly string[], name: string, fallback: number): number {
  const text = textArg(argv, name);
  return text === undefined ? fallback : Number(text);
}
