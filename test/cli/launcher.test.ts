/**
 * The launcher (bin/tslirp, native/launcher.c) against the TypeScript CLI it stands in front of:
 *
 * - `--help` and `--version` byte for byte what `node bin/tslirp.js` prints (the texts come from
 *   src/cli/options.ts, written out by `npm run build`), with the same status;
 * - an option error: the same message on stderr, nothing on stdout, the same status (the launcher
 *   hands every such command line to Node);
 * - its own reading of the command line (TSLIRP_LAUNCHER_EXPLAIN=1, which does nothing but say)
 *   never takes one that options.ts refuses, and when it attaches itself, it attaches what
 *   options.ts would: checked on a few thousand generated command lines, and podman's and
 *   RootlessKit's exact ones must take the fast path.
 *
 * No namespace is touched: every command line here names a target that does not exist or is only
 * explained.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attachRequestKey, HandoffError, parseHandoff, takeHandoff, tapOptionsFromCli } from '../../src/cli/launcher-handoff.js';
import { MALLOC_ARENAS } from '../../src/cli/malloc-arenas.js';
import { checkHostEnvironment, parseCommandLine, type HostProbe } from '../../src/cli/options.js';
import { resolveAttachRequest } from '../../src/link/tap-options.js';
import { mulberry32 } from '../../src/link/fault-link.js';
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

  it('starts Node without NODE_EXTRA_CA_CERTS (read at every start), except for `run` and its command', (ctx) => {
    builtOrSkip(ctx);
    // Node warns at start when the file cannot be loaded: the warning shows whether it was read.
    const env = cleanEnv({ NODE_EXTRA_CA_CERTS: '/nonexistent/extra-ca.pem' });
    const warning = /Ignoring extra certs/;
    for (const args of [['--mtu=0'], ['stats', '--bogus']]) {
      const result = run(LAUNCHER, args, env);
      expect(result.status, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).not.toMatch(warning);
      expect(result.stderr, args.join(' ')).toMatch(/^tslirp: /);
    }
    expect(run(LAUNCHER, ['run', '--bogus'], env).stderr).toMatch(warning);
  });

  it('starts Node with one malloc arena from its start (MALLOC_ARENA_MAX), except for `run` and its command', (ctx) => {
    builtOrSkip(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-launcher-'));
    try {
      const preload = join(dir, 'arena-max.cjs');
      writeFileSync(preload, "process.stderr.write('arenaMax=' + process.env.MALLOC_ARENA_MAX + '\\n');\n");
      const env = cleanEnv({ NODE_OPTIONS: `--require=${preload}`, MALLOC_ARENA_MAX: '8' });
      const arenaMax = (args: string[]): string | undefined => /^arenaMax=(.*)$/m.exec(run(LAUNCHER, args, env).stderr)?.[1];
      expect(arenaMax(['--mtu=0'])).toBe(String(MALLOC_ARENAS));
      expect(arenaMax(['stats', '--bogus'])).toBe(String(MALLOC_ARENAS));
      expect(arenaMax(['run', '--bogus'])).toBe('8'); // the command's own environment
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starts Node with native/node_flags.h's flags, in order", (ctx) => {
    builtOrSkip(ctx);
    const header = readFileSync(join(REPO_ROOT, 'native/node_flags.h'), 'utf8');
    const list = /TSLIRP_NODE_FLAGS\[\] = \{([\s\S]*?)\};/.exec(header)?.[1] ?? '';
    const flags = [...list.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(flags).toContain('--gc-memory-reducer-start-delay-ms=1000');
    // A preload that tells what Node was started with (NODE_OPTIONS reaches Node through the launcher).
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-launcher-'));
    try {
      const preload = join(dir, 'exec-argv.cjs');
      writeFileSync(preload, "process.stderr.write('execArgv=' + JSON.stringify(process.execArgv) + '\\n');\n");
      const result = run(LAUNCHER, ['--mtu=0'], cleanEnv({ NODE_OPTIONS: `--require=${preload}` }));
      const line = /^execArgv=(.*)$/m.exec(result.stderr)?.[1];
      expect(line, result.stderr).toBeDefined();
      expect(JSON.parse(line ?? '[]')).toEqual(flags);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** What options.ts makes of argv, in the launcher's explain format, or "error". */
function cliOutcome(argv: readonly string[], probe: HostProbe): string {
  try {
    const command = parseCommandLine(argv);
    if (command.kind !== 'run') return 'help-or-version';
    checkHostEnvironment(command.options, probe);
    const key = attachRequestKey(resolveAttachRequest(tapOptionsFromCli(command.options)));
    return `fast sandbox=${command.options.enableSandbox ? 1 : 0} ${key}`;
  } catch {
    return 'error';
  }
}

/** The launcher's verdicts for many command lines, one process each (explain mode touches nothing). */
function launcherOutcomes(argvs: readonly (readonly string[])[]): string[] {
  return argvs.map((argv) => run(LAUNCHER, argv, cleanEnv({ TSLIRP_LAUNCHER_EXPLAIN: '1' })).stdout.trim());
}

// The launcher runs with fds 0-4 (stdio, and 3 and 4 as podman's -r/-e): options.ts must see those as passed.
const probe: HostProbe = {
  exists: (path) => existsSync(path),
  interfaceAddresses: (name, family) =>
    (networkInterfaces()[name] ?? []).filter((a) => a.family === (family === 4 ? 'IPv4' : 'IPv6')).map((a) => a.address),
  fdInherited: (fd) => fd >= 0 && fd <= 4,
};

describe("the launcher's reading of the command line", () => {
  it("takes podman's and RootlessKit's exact command lines itself, with options.ts's attach request", (ctx) => {
    builtOrSkip(ctx);
    const pid = String(process.pid);
    const clients = [
      // podman 4.3.1 (CLIENTS.md)
      ['--disable-host-loopback', '--mtu=65520', '--enable-sandbox', '--enable-seccomp', '--enable-ipv6', '-c', '-e', '3', '-r', '4',
        '--api-socket', '/run/user/1000/libpod/tmp/x.net', '--netns-type=path', '/proc/self/ns/net', 'tap0'],
      // RootlessKit 1.1.0, with and without its sandbox flags
      ['--mtu', '65520', '-r', '3', '--disable-host-loopback', '--api-socket', '/tmp/s/.s4nn.sock', pid, 'tap0'],
      ['--mtu', '65520', '-r', '3', '--disable-host-loopback', '--api-socket', '/tmp/s/.s4nn.sock', '--enable-sandbox', '--enable-seccomp', pid, 'tap0'],
      // upstream's tests
      ['--ready-fd=3', '--enable-sandbox', pid, 'tap11'],
      [pid, 'tap0'],
      ['-c', '--enable-seccomp', '--userns-path=/proc/self/ns/user', pid, 'tap11'],
    ];
    const verdicts = launcherOutcomes(clients);
    for (const [i, argv] of clients.entries()) {
      expect(verdicts[i], argv.join(' ')).toMatch(/^fast /);
      expect(verdicts[i], argv.join(' ')).toBe(cliOutcome(argv, probe));
      // None of them names an offload flag: they get the default, offloads on (options.ts DEFAULT_OFFLOADS).
      expect(verdicts[i], argv.join(' ')).toContain(';vnet=1;');
    }
    const [off] = launcherOutcomes([[pid, 'tap0', '--disable-offloads']]);
    expect(off).toMatch(/^fast .*;vnet=0;/);
  });

  it('on generated command lines: fast only where options.ts agrees, with the same request', (ctx) => {
    builtOrSkip(ctx);
    const random = mulberry32(16);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const pid = String(process.pid);
    // [spellings, valid values, refused values]: mostly valid ones, so that many lines take the fast path.
    const valued: [string[], string[], string[]][] = [
      [['--mtu=', '--mtu ', '-m', '-m ', '--mt='], ['1500', '65520', '68', '65521', '0100'], ['67', '65522', '0', 'abc', '']],
      [['-r', '-r ', '--ready-fd=', '--ready ', '-e', '--exit-fd='], ['3', '4', '0003'], ['5', '99', 'x']],
      [['--api-socket=', '-a', '-a '], ['/tmp/x.sock', 'rel.sock'], ['', 'a'.repeat(108)]],
      [['--cidr=', '--cidr '], ['10.0.2.0/24', '10.1.0.0/16', '192.168.0.0/25', '010.0.2.0/24'], ['10.0.2.100/24', '10.0.0.0/26', '300.0.0.0/8', '10.0.2.0', '10.0.2.0/0']],
      [['--netns-type='], ['pid', 'path'], ['foo']],
      [['--userns-path=', '--userns-path '], ['/proc/self/ns/user'], ['/nonexistent', '']],
      [['--outbound-addr='], ['127.0.0.1', 'lo'], ['01.2.3.4', '::1', 'eth0:1', '1.2.3.256']],
      [['--outbound-addr6='], ['::1'], ['lo', '127.0.0.1']],
      [['--macaddress=', '--mac='], ['02:00:00:00:00:01', '2:0:0:0:0:1', 'AA:bb:cc:dd:ee:ff'], ['03:00:00:00:00:00', 'zz:00:00:00:00:00', '02:00:00:00:00']],
      [['--target-type='], ['netns'], ['bess', 'x']],
      [['--log-level='], ['debug', 'info'], ['loud']],
      [['--dns-upstream='], ['127.0.0.1', '127.0.0.1:53', '127.0.0.1:0053', '[::1]:53', '::1'], ['127.0.0.1:0', '127.0.0.1:70000', 'name:53']],
      [['--pcap='], ['/tmp/x.pcap'], ['']],
      [['--busy-poll=', '--busy-poll ', '--busy='], ['0', '50', '1000', '0050'], ['1001', '-1', '5x', '', '12345678']],
    ];
    const flags = ['-c', '--configure', '--conf', '-c', '-6', '--enable-ipv6', '--disable-host-loopback', '--no-host-loopback', '--enable-sandbox',
      '--create-sandbox', '--enable-seccomp', '--disable-dns', '--enable-offloads', '--disable-offloads', '-c6', '-cr3', '-6ce4'];
    const refusedFlags = ['--frobnicate', '-x', '--configure=1', '--dis', '-h', '--vers'];
    const targets = [pid, pid, pid, pid, '/proc/self/ns/net', '999999999', '0', 'abc', '/nonexistent'];
    const taps = ['tap0', 'tap1', 'tap%d', '', 'a'.repeat(16), 'ta p', '.', 'x:y'];
    const argvs: string[][] = [];
    for (let n = 0; n < 800; n++) {
      const argv: string[] = [];
      const options = Math.floor(random() * 6);
      for (let k = 0; k < options; k++) {
        if (random() < 0.4) {
          argv.push(random() < 0.95 ? pick(flags) : pick(refusedFlags));
          continue;
        }
        const [spellings, valid, refused] = pick(valued);
        const spelling = pick(spellings);
        const value = random() < 0.85 ? pick(valid) : pick(refused);
        if (spelling.endsWith(' ')) argv.push(spelling.trimEnd(), value);
        else argv.push(spelling + value);
      }
      const positionals = [pick(targets)];
      if (random() < 0.6) positionals.push(random() < 0.8 ? pick(taps.slice(0, 3)) : pick(taps));
      if (random() < 0.1) argv.push('--');
      // Options after the positionals too (getopt permutes).
      const cut = Math.floor(random() * (argv.length + 1));
      argvs.push([...argv.slice(0, cut), ...positionals, ...argv.slice(cut)]);
    }
    const verdicts = launcherOutcomes(argvs);
    let fast = 0;
    let accepted = 0;
    for (const [i, argv] of argvs.entries()) {
      const verdict = verdicts[i];
      const cli = cliOutcome(argv, probe);
      expect(verdict, argv.join(' ')).toMatch(/^(fast|fallback) /);
      if (cli.startsWith('fast ')) accepted++;
      if (!verdict.startsWith('fast ')) continue;
      fast++;
      expect(verdict, argv.join(' ')).toBe(cli);
    }
    // Enough of them take the fast path for the comparison to mean something, and the launcher
    // leaves to Node only the few options it does not check itself (IPv6 literals, interface names).
    console.log(`launcher fast path: ${fast} of ${accepted} accepted command lines (${argvs.length} generated)`);
    expect(fast).toBeGreaterThan(150);
    expect(fast / accepted).toBeGreaterThan(0.75);
  }, 120_000);
});

describe('TSLIRP_LAUNCHER_HANDOFF', () => {
  const good = {
    v: 2,
    tap: { fd: 5, ifname: 'tap0', vnetHdrSize: 12, offloads: 7 },
    request: 'netns=/proc/1/ns/net;userns=2:/proc/1/ns/user;tap=tap0;vnet=1;configure=-',
    sandbox: { helperFd: 6, userns: 'joined' },
    apiFd: 7,
    startedNs: '1000',
    attachedNs: '2500',
  };

  it('parses what the launcher writes, and is removed from the environment', () => {
    const env: NodeJS.ProcessEnv = { TSLIRP_LAUNCHER_HANDOFF: JSON.stringify(good), OTHER: 'x' };
    const handoff = takeHandoff(env);
    expect(env).toEqual({ OTHER: 'x' });
    expect(handoff).toEqual({
      tap: good.tap,
      request: good.request,
      sandbox: { helperFd: 6, userns: 'joined' },
      apiFd: 7,
      startedNs: 1000n,
      attachedNs: 2500n,
    });
    expect(parseHandoff(JSON.stringify({ ...good, sandbox: null })).sandbox).toBeUndefined();
    expect(parseHandoff(JSON.stringify({ ...good, apiFd: null })).apiFd).toBeUndefined();
    expect(takeHandoff({})).toBeUndefined();
  });

  it('refuses anything else', () => {
    const bad = [
      'not json',
      JSON.stringify({ ...good, v: 1 }),
      JSON.stringify({ ...good, apiFd: -1 }),
      JSON.stringify({ ...good, apiFd: undefined }),
      JSON.stringify({ ...good, tap: { ...good.tap, fd: -1 } }),
      JSON.stringify({ ...good, tap: { ...good.tap, fd: '5' } }),
      JSON.stringify({ ...good, request: 3 }),
      JSON.stringify({ ...good, sandbox: { helperFd: 6, userns: 'other' } }),
      JSON.stringify({ ...good, sandbox: undefined }),
      JSON.stringify({ ...good, startedNs: 1000 }),
    ];
    for (const text of bad) expect(() => takeHandoff({ TSLIRP_LAUNCHER_HANDOFF: text }), text).toThrow(HandoffError);
  });

  it('names a request as native/launcher_args.c does', () => {
    expect(attachRequestKey({ netnsPath: '/proc/7/ns/net', usernsMode: 2, usernsPath: '/proc/7/ns/user', tapName: 'tap0', vnetHdr: false })).toBe(
      'netns=/proc/7/ns/net;userns=2:/proc/7/ns/user;tap=tap0;vnet=0;configure=-',
    );
    expect(
      attachRequestKey({
        netnsPath: '/x',
        usernsMode: 0,
        tapName: 'tap1',
        vnetHdr: true,
        configure: { mtu: 1500, address: 0x0a000264, netmask: 0xffffff00, gateway: 0x0a000202, mac: new Uint8Array([2, 0, 0, 0, 0, 0xab]) },
      }),
    ).toBe('netns=/x;userns=0:;tap=tap1;vnet=1;configure=1500,167772772,4294967040,167772674,0200000000ab');
  });
});
