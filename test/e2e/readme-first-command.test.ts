/**
 * The README's first command, run exactly as the README writes it (the part after `npm install && `,
 * taken from README.md so the two cannot drift), with a PATH that holds only what a fresh Debian with
 * Node 20 has and tslirp run needs: sh, node, and util-linux's unshare, mount and setpriv; no ip, no
 * ping. Its output must be the line the README says it prints, and its status 0.
 *
 * Network rule: the command talks only to 10.0.2.2 (the host's loopback) and to its own published
 * port on 127.0.0.1. tslirp run ends CMD and its namespaces itself (that is under test); the tracker
 * ends tslirp by PID if it hangs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IS_ROOT, namespacePrerequisite, OutputLog, ProcessTracker, REPO_ROOT, requireOrSkip } from '../support/netns.js';
import { builtCliPrerequisite } from '../support/tslirp-process.js';

const tracker = new ProcessTracker();
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await tracker.killAll();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The README's first sh block: the command after `npm install && `, and what its comment says it prints. */
export function readmeFirstCommand(readme: string): { command: string; prints: string } {
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no ```sh block');
  const lines = block.split('\n');
  const commandLine = lines.find((line) => line.startsWith('npm install && node bin/tslirp.js run '));
  if (commandLine === undefined) throw new Error('the first sh block of README.md has no `npm install && node bin/tslirp.js run` line');
  const prints = lines
    .slice(0, lines.indexOf(commandLine))
    .map((line) => /It prints: (.*)$/.exec(line)?.[1])
    .find((text) => text !== undefined);
  if (prints === undefined) throw new Error('the comment above the first command does not say what it prints ("It prints: …")');
  return { command: commandLine.slice('npm install && '.length), prints };
}

/** A folder of links to the only programs the command may use. */
function minimalPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-readme-path-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of ['sh', 'unshare', 'mount', 'setpriv']) {
    const path = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    symlinkSync(path, join(dir, tool));
  }
  return dir;
}

describe("README.md's first command", () => {
  it('extracts the command and its promised output', () => {
    const { command, prints } = readmeFirstCommand(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
    expect(command.startsWith('node bin/tslirp.js run ')).toBe(true);
    expect(command).not.toMatch(/\b(ping|ip|curl|wget|nc|ncat|socat)\b /); // not on a fresh machine
    expect(prints.length).toBeGreaterThan(0);
  });

  it('succeeds as written with only sh, node and util-linux, and prints what the README says', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }) ?? builtCliPrerequisite() ?? (IS_ROOT ? undefined : 'needs root'));
    const { command, prints } = readmeFirstCommand(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
    // cwd: the repository root, as after `npm install` in a clone.
    const child = tracker.spawn('/bin/sh', ['-c', command], undefined, { PATH: minimalPath(), HOME: tmpdir() });
    const log = new OutputLog(child);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const status = await new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
    expect(status, log.text).toBe(0);
    expect(stdout).toBe(`${prints}\n`);
  });
});
