/**
 * The launcher (bin/tslirp, native/launcher.c) against the TypeScript CLI it stands in front of:
 *
 * - `--help` and `--version` byte for byte what `node bin/tslirp.js` prints (the texts come from
 *   src/cli/options.ts, written out by `npm run build`), with the same status;
 * - an option error: the same message on stderr, nothing on stdout, the same status (the launcher
 *   hands every such command line to Node).
 *
 * No namespace is touched: every command line here is refused or names a target that does not exist.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IN_CI, REPO_ROOT } from '../support/netns.js';

const LAUNCHER = join(REPO_ROOT, 'bin/tslirp');
const NODE_ENTRY = join(REPO_ROOT, 'bin/tslirp.js');

function builtOrSkip(ctx: { skip: (note?: string) => void }): void {
  const missing = [LAUNCHER, join(REPO_ROOT, 'dist/cli/main.js'), join(REPO_ROOT, 'dist/cli/launcher-help.txt')].filter((p) => !existsSync(p));
  if (missing.length === 0) return;
  if (IN_CI) throw new Error(`not built: ${missing.join(', ')} (npm install builds bin/tslirp, npm run build dist/)`);
  ctx.skip(`not built: ${missing.join(', ')}`);
}

/** A clean environment: no test-only variables that send the launcher to Node on their own. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...extra };
  return env;
}

function run(file: string, args: readonly string[], env = cleanEnv()): { status: number | null; stdout: string; stderr: string } {
  const command = file === NODE_ENTRY ? process.execPath : file;
  const argv = file === NODE_ENTRY ? [NODE_ENTRY, ...args] : [...args];
  const result = spawnSync(command, argv, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/tslirp answers like bin/tslirp.js', () => {
  it('--help, -h, --version, -v: the same bytes and status', (ctx) => {
    builtOrSkip(ctx);
    for (const flag of ['--help', '-h', '--version', '-v']) {
      const fromLauncher = run(LAUNCHER, [flag]);
      const fromNode = run(NODE_ENTRY, [flag]);
      expect(fromLauncher, flag).toEqual(fromNode);
      expect(fromLauncher.status).toBe(0);
      expect(fromLauncher.stdout.length).toBeGreaterThan(20);
    }
  });

  it('option errors: the same message, status 1, nothing on stdout', (ctx) => {
    builtOrSkip(ctx);
    const cases = [
      ['--mtu=0', '1'],
      ['-c', '--cidr=10.0.2.100/24', '999999999'],
      ['--macaddress=52:54:00:12:34:56', '999999999'],
      ['-c', '--frobnicate', '999999999'],
      ['-c', '-r', '9', '999999999'],
      ['-c', '--userns-path=/nonexistent/userns', '999999999'],
      ['-c', '999999999'],
      ['--netns-type=path', '/nonexistent/netns'],
      ['--target-type=bess', '1'],
      ['--dns-upstream=name', '1'],
      [],
      ['--', '-c'],
      ['-c', '--help', '999999999'], // help where getopt meets it: the help text, status 0
      ['--conf', '--vers'],
    ];
    for (const args of cases) expect(run(LAUNCHER, args), args.join(' ')).toEqual(run(NODE_ENTRY, args));
  });
});
