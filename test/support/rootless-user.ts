/**
 * The unprivileged user RootlessKit runs as in e2e tests and benchmarks (CLIENTS.md's recipe): the
 * test user with /etc/subuid and /etc/subgid ranges, which RootlessKit maps into its child's user
 * namespace. Creates the user and the ranges when missing (root only); never touches other users.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ensureTestUser, type RunAs } from './netns.js';

/** Why RootlessKit cannot be run here, or undefined when it can. */
export function rootlesskitPrerequisite(): string | undefined {
  for (const tool of ['rootlesskit', 'rootlessctl', 'newuidmap', 'socat']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (apt-get install rootlesskit uidmap socat)`;
    }
  }
  return undefined;
}

/** The test user with subordinate id ranges. */
export function rootlessUser(): RunAs {
  const user = ensureTestUser();
  const name = execFileSync('id', ['-un', String(user.uid)], { encoding: 'utf8' }).trim();
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (!text.split('\n').some((line) => line.startsWith(`${name}:`))) writeFileSync(file, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${name}:200000:65536\n`);
  }
  return user;
}
