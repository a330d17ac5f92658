import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeFaultSpec,
  faultLinkOptions,
  faultSpecFromEnvironment,
  FaultSpecError,
  parseFaultSpec,
  type FaultSpec,
} from '../../src/cli/fault-injection.js';
import { HELP_TEXT } from '../../src/cli/options.js';
import { REPO_ROOT } from '../support/netns.js';

const none = { drop: 0, reorder: 0, duplicate: 0, corrupt: 0 };

function fails(text: string, message: RegExp): void {
  let error: unknown;
  try {
    parseFaultSpec(text);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FaultSpecError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
}

describe('parseFaultSpec', () => {
  it('reads the two-way kinds, seed and distance', () => {
    const spec = parseFaultSpec('seed=7,drop=0.01,reorder=0.02,duplicate=0.01,corrupt=0.01,distance=3');
    const both = { drop: 0.01, reorder: 0.02, duplicate: 0.01, corrupt: 0.01 };
    expect(spec).toEqual<FaultSpec>({ seed: 7, reorderDistance: 3, holdMs: 10, receive: both, transmit: both, hostWriteThrowPort: 0 });
  });

  it('defaults: seed 1, distance 1, hold 10 ms, every kind not named is 0', () => {
    expect(parseFaultSpec('drop=0.5')).toEqual<FaultSpec>({ seed: 1, reorderDistance: 1, holdMs: 10, receive: { ...none, drop: 0.5 }, transmit: { ...none, drop: 0.5 }, hostWriteThrowPort: 0 });
  });

  it('reads hold: 0 (no time bound) to 60000 ms', () => {
    expect(parseFaultSpec('reorder=0.1,hold=0').holdMs).toBe(0);
    expect(parseFaultSpec('reorder=0.1,hold=60000').holdMs).toBe(60_000);
  });

  it('reads host-write-throw-port (1 to 65535)', () => {
    expect(parseFaultSpec('host-write-throw-port=7777').hostWriteThrowPort).toBe(7777);
    fails('host-write-throw-port=0', /host-write-throw-port: 0 is not an integer in 1 … 65535/);
    fails('host-write-throw-port=65536', /not an integer in 1 … 65535/);
  });

  it('a one-direction key overrides the two-way value, whatever the order', () => {
    const spec = parseFaultSpec('transmit.corrupt=0.2, corrupt=0.01 ,receive.drop=1');
    expect(spec.receive).toEqual({ ...none, drop: 1, corrupt: 0.01 });
    expect(spec.transmit).toEqual({ ...none, corrupt: 0.2 });
  });

  it('accepts 0, 1, .5 and exponents; the largest seed', () => {
    expect(parseFaultSpec('drop=0,reorder=1,duplicate=.5,corrupt=1e-3,seed=4294967295')).toMatchObject({
      seed: 4294967295,
      receive: { drop: 0, reorder: 1, duplicate: 0.5, corrupt: 0.001 },
    });
  });

  it('refuses bad specs with one clear line', () => {
    fails('', /empty spec/);
    fails(' , ', /empty spec/);
    fails('drop=0.1,,reorder=0.1', /empty item/);
    fails('drop', /"drop" is not key=value/);
    fails('loss=0.1', /unknown key "loss".*seed, distance, hold, host-write-throw-port, drop, reorder, duplicate, corrupt/);
    fails('rx.drop=0.1', /unknown key "rx.drop"/);
    fails('receive.seed=3', /unknown key "receive.seed"/);
    fails('drop=1.5', /drop: 1.5 is not a probability/);
    fails('drop=-0.1', /drop: "-0.1" is not a number/);
    fails('drop=', /drop: "" is not a number/);
    fails('drop=0x1', /not a number/);
    fails('drop=NaN', /not a number/);
    fails('seed=1.5', /seed: 1.5 is not an integer in 0 … 4294967295/);
    fails('seed=4294967296', /not an integer/);
    fails('distance=0', /distance: 0 is not an integer in 1 … 1000/);
    fails('hold=60001', /hold: 60001 is not an integer in 0 … 60000/);
    fails('hold=1.5', /hold: 1.5 is not an integer/);
    fails('drop=0.1,drop=0.2', /drop given twice/);
  });
});

describe('faultSpecFromEnvironment', () => {
  it('unset or empty: no faults', () => {
    expect(faultSpecFromEnvironment({}, { offloads: false })).toBeUndefined();
    expect(faultSpecFromEnvironment({ TSLIRP_INJECT_FAULTS: ' ' }, { offloads: false })).toBeUndefined();
  });

  it('names the variable in its errors', () => {
    expect(() => faultSpecFromEnvironment({ TSLIRP_INJECT_FAULTS: 'drop=2' }, { offloads: false })).toThrow(/^TSLIRP_INJECT_FAULTS: drop: 2 is not a probability/);
  });

  it('refuses corruption with offloads (partial checksums would hide it), allows the other faults', () => {
    expect(() => faultSpecFromEnvironment({ TSLIRP_INJECT_FAULTS: 'transmit.corrupt=0.01' }, { offloads: true })).toThrow(/corrupt needs --disable-offloads/);
    expect(faultSpecFromEnvironment({ TSLIRP_INJECT_FAULTS: 'drop=0.01,reorder=0.01' }, { offloads: true })?.receive.drop).toBe(0.01);
    expect(faultSpecFromEnvironment({ TSLIRP_INJECT_FAULTS: 'corrupt=0.01' }, { offloads: false })?.transmit.corrupt).toBe(0.01);
  });

  it('builds FaultLink options and a one-line description', () => {
    const spec = parseFaultSpec('seed=9,receive.drop=0.25,distance=2,hold=5');
    expect(faultLinkOptions(spec)).toEqual({ seed: 9, reorderDistance: 2, receive: { ...none, drop: 0.25 }, transmit: none });
    expect(describeFaultSpec(spec)).toBe(
      'seed=9 distance=2 hold=5ms; receive (guest → engine): drop=0.25 reorder=0 duplicate=0 corrupt=0; transmit (engine → guest): drop=0 reorder=0 duplicate=0 corrupt=0',
    );
  });

  it('is not a flag: --help does not mention it', () => {
    expect(HELP_TEXT).not.toMatch(/TSLIRP_INJECT|inject/i);
  });
});

describe('the CLI with a bad TSLIRP_INJECT_FAULTS', () => {
  it('exits 1 with one line before touching any namespace', (ctx) => {
    if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js'))) {
      if (process.env.CI === 'true') throw new Error('dist/ not built: npm test builds it first');
      ctx.skip('dist/ not built (npm run build)');
    }
    // /dev/null is no namespace: even if the spec were let through, nothing could be attached.
    const result = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/tslirp.js'), '--netns-type=path', '/dev/null', 'tap0'], {
      env: { ...process.env, TSLIRP_INJECT_FAULTS: 'seed=7,loss=0.1' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^tslirp: TSLIRP_INJECT_FAULTS: unknown key "loss"/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
