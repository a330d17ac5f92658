import { describe, expect, it } from 'vitest';
import { applySandbox } from '../../src/cli/sandbox.js';

// Without the launcher: no pivot helper to ask (its path runs end to end, test/e2e/sandbox.test.ts).
const noLauncher = {
  sandboxPivot: (): never => {
    throw new Error('no launcher: nothing to pivot');
  },
  sandboxRemoveApiSocket: (): never => {
    throw new Error('no launcher: no helper');
  },
};

describe('applySandbox without the launcher (node bin/tslirp.js)', () => {
  const calls: unknown[] = [];
  const addon = {
    ...noLauncher,
    sandboxApply: (options: { noNewPrivs: boolean; dropCapabilities: boolean; seccomp: boolean }) => {
      calls.push(options);
      return { threads: 9, unreachable: 1, seccomp: options.seccomp };
    },
  };

  it('does nothing unless asked', () => {
    expect(applySandbox({ sandbox: false, seccomp: false }, addon)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('--enable-sandbox: no_new_privs, and capabilities dropped only when root', () => {
    const lines = applySandbox({ sandbox: true, seccomp: false }, addon);
    expect(calls.pop()).toEqual({ noNewPrivs: true, dropCapabilities: process.geteuid?.() === 0, seccomp: false });
    expect(lines[0]).toMatch(/^sandbox: no_new_privs set on 9 threads/);
    expect(lines[0]).toMatch(/no private mount namespace/);
    expect(lines[1]).toMatch(/1 thread\(s\) block every signal/);
  });

  it('--enable-seccomp alone: no_new_privs and the filter, no capability change', () => {
    expect(applySandbox({ sandbox: false, seccomp: true }, addon)).toEqual(['seccomp: deny-list filter installed on all threads']);
    expect(calls.pop()).toEqual({ noNewPrivs: true, dropCapabilities: false, seccomp: true });
  });

  it('a failure to apply is an error (starting unsandboxed would be worse than not starting)', () => {
    const failing = {
      ...noLauncher,
      sandboxApply: (): never => {
        throw new Error('prctl(PR_SET_NO_NEW_PRIVS): Operation not permitted');
      },
    };
    expect(() => applySandbox({ sandbox: true, seccomp: false }, failing)).toThrow(/PR_SET_NO_NEW_PRIVS/);
  });
});
