/**
 * `--help` is how podman and RootlessKit detect features (they grep it for flag names, and RootlessKit
 * refuses a binary without `--netns-type`), and it runs before every container start: it must name
 * every flag and stay fast. The spawn time is reported, not asserted (machines differ).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP_TEXT, parseCommandLine, versionText } from '../../src/cli/options.js';
import { REPO_ROOT } from '../support/netns.js';

const BIN = join(REPO_ROOT, 'bin/tslirp.js');
const BUILT = join(REPO_ROOT, 'dist/cli/main.js');
const CLIENT_FLAGS = ['--disable-host-loopback', '--mtu', '--enable-sandbox', '--enable-seccomp', '--cidr', '--outbound-addr', '--enable-ipv6', '--netns-type'];
const ALL_FLAGS = [
  '-c, --configure', '-e, --exit-fd=FD', '-r, --ready-fd=FD', '-m, --mtu=MTU', '-6, --enable-ipv6', '-a, --api-socket=PATH', '--cidr=CIDR',
  '--disable-host-loopback', '--netns-type=TYPE', '--userns-path=PATH', '--enable-sandbox', '--enable-seccomp', '--outbound-addr=IPv4',
  '--outbound-addr6=IPv6', '--disable-dns', '--macaddress=MAC', '--target-type=TYPE', '-h, --help', '-v, --version',
  '--log-level=LEVEL', '--dns-upstream=ADDR[:PORT]', '--enable-offloads', '--disable-offloads', '--pcap=FILE',
];

describe('--help text', () => {
  it('keeps slirp4netns usage line shape and names every flag clients grep for', () => {
    expect(HELP_TEXT.split('\n')[0]).toBe('Usage: tslirp [OPTION]... PID|PATH [TAPNAME]');
    for (const flag of CLIENT_FLAGS) expect(HELP_TEXT).toContain(flag);
  });

  it('has one line per option, each starting with the flag', () => {
    const lines = HELP_TEXT.split('\n');
    for (const flag of ALL_FLAGS) expect(lines.filter((l) => l.startsWith(flag)), flag).toHaveLength(1);
  });

  it('documents only flags the parser takes', () => {
    const longFlags = [...HELP_TEXT.matchAll(/^(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
    for (const flag of longFlags) {
      if (flag === '--help' || flag === '--version') continue;
      const needsValue = new RegExp(`^(?:-\\w, )?${flag}=`, 'm').test(HELP_TEXT);
      const argv = needsValue ? [`${flag}=x`, '7'] : [flag, '7'];
      let message = '';
      try {
        parseCommandLine(argv);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, flag).not.toMatch(/unrecognized option/);
    }
  });

  it('--version prints the lines slirp4netns prints, saying it is tslirp', () => {
    expect(versionText('0.1.0')).toBe(
      [
        'slirp4netns version 1.2.0+tslirp-0.1.0',
        'commit: unknown',
        'libslirp: 4.7.0+tslirp-0.1.0',
        'SLIRP_CONFIG_VERSION_MAX: 4',
        'libseccomp: none',
        'tslirp: 0.1.0',
        '',
      ].join('\n'),
    );
  });

  it('--version has the keys of slirp4netns -v in its order, and its first line parses the same way', (ctx) => {
    const reference = spawnSync('slirp4netns', ['-v'], { encoding: 'utf8' });
    if (reference.error) {
      if (process.env.CI === 'true') throw reference.error;
      ctx.skip();
      return;
    }
    const keys = (text: string): string[] => text.trim().split('\n').map((line) => /^(slirp4netns version |[\w ]+: )/.exec(line)?.[1] ?? line);
    const ours = versionText('0.1.0');
    expect(keys(ours).slice(0, -1)).toEqual(keys(reference.stdout));
    // `slirp4netns version X`: X is semver (build metadata after +) at the same release.
    const version = (text: string): string => text.split('\n')[0].split(' ')[2];
    expect(version(ours)).toMatch(/^\d+\.\d+\.\d+\+[0-9A-Za-z.-]+$/);
    expect(version(ours).split('+')[0]).toBe(version(reference.stdout).split('+')[0]);
    // What slirp4netns's own tests read: `grep "SLIRP_CONFIG_VERSION_MAX: " | sed 's#...: ##'`, a number.
    const configMax = (text: string): string => /^SLIRP_CONFIG_VERSION_MAX: (.*)$/m.exec(text)![1];
    expect(configMax(ours)).toBe(configMax(reference.stdout));
  });
});

describe('the executable', () => {
  it('bin/tslirp.js --help prints the help fast, without loading the engine (timing reported)', (ctx) => {
    if (!existsSync(BUILT)) {
      if (process.env.CI === 'true') throw new Error('dist/ not built: npm test builds it first');
      ctx.skip('dist/ not built (npm run build)');
    }
    const times: number[] = [];
    let output = '';
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const result = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
      times.push(performance.now() - start);
      expect(result.status).toBe(0);
      output = result.stdout;
    }
    expect(output).toBe(HELP_TEXT);
    const slirp: number[] = [];
    if (existsSync('/usr/bin/slirp4netns')) {
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        spawnSync('/usr/bin/slirp4netns', ['--help']);
        slirp.push(performance.now() - start);
      }
    }
    const median = (xs: number[]): string => (xs.length ? `${[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1)} ms` : 'n/a');
    const report = `--help spawn time: tslirp median ${median(times)}, slirp4netns median ${median(slirp)}`;
    console.log(report);
    ctx.annotate?.(report);

    // The help path must not start the engine: record every file a --help run resolves (the CLI is
    // one bundled CommonJS file, dist/bundle/main.cjs, whose engine part is initialised only by the run path)
    // and every native addon it opens (none: the addon is the slow part).
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-help-'));
    try {
      const log = join(dir, 'resolved.txt');
      writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`);
      writeFileSync(
        join(dir, 'register.mjs'),
        `import { register } from 'node:module';\nimport { appendFileSync } from 'node:fs';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n` +
          `const dlopen = process.dlopen; process.dlopen = function (m, f) { appendFileSync(${JSON.stringify(log)}, 'dlopen ' + f + '\\n'); return dlopen.apply(this, arguments); };\n`,
      );
      const traced = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, '--help'], { encoding: 'utf8' });
      expect(traced.status).toBe(0);
      const resolved = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      const ours = resolved.filter((u) => u.startsWith('file:') && !u.startsWith(pathToFileURL(dir).href));
      expect(ours.map((u) => u.slice(pathToFileURL(REPO_ROOT).href.length))).toEqual(['/bin/tslirp.js', '/dist/bundle/main.cjs']);
      expect(resolved.filter((u) => u.startsWith('dlopen'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--version and a bad option', () => {
    if (!existsSync(BUILT)) return;
    const version = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(versionText(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version));
    const bad = spawnSync(process.execPath, [BIN, '--mtu=0', '1'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('tslirp: MTU must be an integer from 68 to 65521, got "0"\n');
    expect(bad.stdout).toBe('');
  });
});
