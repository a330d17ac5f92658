import { describe, expect, it } from 'vitest';
import {
  checkHostEnvironment,
  CliError,
  DEFAULT_BUSY_POLL_MICROSECONDS,
  DEFAULT_OFFLOADS,
  HELP_TEXT,
  parseCommandLine,
  parseDnsUpstream,
  type CliOptions,
  type HostProbe,
} from '../../src/cli/options.js';

function run(argv: string[]): { options: CliOptions; warnings: readonly string[] } {
  const command = parseCommandLine(argv);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command;
}
const opts = (argv: string[]): CliOptions => run(argv).options;
function fails(argv: string[], message: RegExp): void {
  let error: unknown;
  try {
    parseCommandLine(argv);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CliError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
}

describe('parseCommandLine: the exact client invocations (CLIENTS.md)', () => {
  it('rootlesskit 1.1.0', () => {
    const o = opts(['--mtu', '65520', '-r', '3', '--disable-host-loopback', '--api-socket', '/st/.s4nn.sock', '4242', 'tap0']);
    expect(o).toMatchObject({ mtu: 65520, readyFd: 3, disableHostLoopback: true, apiSocket: '/st/.s4nn.sock', target: '4242', tapName: 'tap0', configure: false, netnsType: 'pid' });
  });

  it('podman 4.3.1', () => {
    const { options: o, warnings } = run([
      '--disable-host-loopback', '--mtu=65520', '--enable-sandbox', '--enable-seccomp', '--enable-ipv6', '-c', '-e', '3', '-r', '4',
      '--api-socket', '/run/user/1000/libpod/tmp/abc.net', '--netns-type=path', '/run/user/1000/netns/netns-1234', 'tap0',
    ]);
    expect(o).toMatchObject({
      disableHostLoopback: true, mtu: 65520, enableSandbox: true, enableSeccomp: true, enableIpv6: true, configure: true,
      exitFd: 3, readyFd: 4, apiSocket: '/run/user/1000/libpod/tmp/abc.net', netnsType: 'path', target: '/run/user/1000/netns/netns-1234', tapName: 'tap0',
    });
    // IPv6 is implemented (issue 15): -6 is no longer a warning.
    expect(warnings.join('\n')).not.toMatch(/IPv6/);
  });
});

describe('parseCommandLine: defaults', () => {
  it('has offloads on unless --disable-offloads (ours: slirp4netns has no such flag)', () => {
    expect(DEFAULT_OFFLOADS).toBe(true);
    expect(HELP_TEXT).toMatch(/^--enable-offloads .* \(default\)$/m);
    expect(HELP_TEXT).not.toMatch(/^--disable-offloads .* \(default\)$/m);
  });

  it('busy-polls up to 50 µs unless --busy-poll says otherwise (ours: slirp4netns has no such flag)', () => {
    expect(DEFAULT_BUSY_POLL_MICROSECONDS).toBe(50);
    expect(HELP_TEXT).toMatch(/^--busy-poll=USEC .*\(default=50, 0=never, max=1000\)$/m);
  });

  it('matches slirp4netns 1.2 defaults', () => {
    expect(run(['42'])).toEqual({
      kind: 'run',
      warnings: [],
      options: {
        configure: false, exitFd: undefined, readyFd: undefined, mtu: 1500, enableIpv6: false, apiSocket: undefined,
        cidr: '10.0.2.0/24', disableHostLoopback: false, netnsType: 'pid', usernsPath: undefined, enableSandbox: false,
        enableSeccomp: false, outboundAddr: undefined, outboundAddr6: undefined, disableDns: false, macAddress: undefined,
        targetType: 'netns', logLevel: undefined, dnsUpstream: undefined, offloads: true, pcap: undefined, busyPollMicroseconds: 50, target: '42', tapName: 'tap0',
      },
    });
  });
});

describe('parseCommandLine: every option in each spelling', () => {
  const cases: [string, string[][], Partial<CliOptions>][] = [
    ['configure', [['-c'], ['--configure'], ['--conf']], { configure: true }],
    ['exit-fd', [['-e', '5'], ['-e5'], ['--exit-fd=5'], ['--exit-fd', '5']], { exitFd: 5 }],
    ['ready-fd', [['-r', '3'], ['-r3'], ['--ready-fd=3'], ['--ready-fd', '3']], { readyFd: 3 }],
    ['mtu', [['-m', '65521'], ['-m65521'], ['--mtu=65521'], ['--mtu', '65521']], { mtu: 65521 }],
    ['enable-ipv6', [['-6'], ['--enable-ipv6']], { enableIpv6: true }],
    ['api-socket', [['-a', '/s'], ['-a/s'], ['--api-socket=/s'], ['--api-socket', '/s']], { apiSocket: '/s' }],
    ['cidr', [['--cidr=10.10.0.0/16'], ['--cidr', '10.10.0.0/16']], { cidr: '10.10.0.0/16' }],
    ['disable-host-loopback', [['--disable-host-loopback'], ['--no-host-loopback']], { disableHostLoopback: true }],
    ['netns-type', [['--netns-type=pid'], ['--netns-type', 'pid']], { netnsType: 'pid' }],
    ['userns-path', [['--userns-path=/proc/1/ns/user'], ['--userns-path', '/proc/1/ns/user']], { usernsPath: '/proc/1/ns/user' }],
    ['enable-sandbox', [['--enable-sandbox'], ['--create-sandbox']], { enableSandbox: true }],
    ['enable-seccomp', [['--enable-seccomp']], { enableSeccomp: true }],
    ['outbound-addr', [['--outbound-addr=192.0.2.1'], ['--outbound-addr', '192.0.2.1']], { outboundAddr: '192.0.2.1' }],
    ['outbound-addr (interface)', [['--outbound-addr=eth0']], { outboundAddr: 'eth0' }],
    ['outbound-addr6', [['--outbound-addr6=2001:db8::1'], ['--outbound-addr6', '2001:db8::1']], { outboundAddr6: '2001:db8::1' }],
    ['outbound-addr6 (interface)', [['--outbound-addr6', 'eth0']], { outboundAddr6: 'eth0' }],
    ['disable-dns', [['--disable-dns']], { disableDns: true }],
    ['macaddress', [['-c', '--macaddress=52:54:00:12:34:56'], ['-c', '--macaddress', '52:54:0:12:34:56']], { macAddress: '52:54:00:12:34:56' }],
    ['target-type', [['--target-type=netns'], ['--target-type', 'netns']], { targetType: 'netns' }],
    ['log-level', [['--log-level=debug'], ['--log-level', 'debug']], { logLevel: 'debug' }],
    ['dns-upstream', [['--dns-upstream=192.0.2.53'], ['--dns-upstream', '192.0.2.53']], { dnsUpstream: { address: '192.0.2.53', port: 53 } }],
    ['enable-offloads', [['--enable-offloads']], { offloads: true }],
    ['disable-offloads', [['--disable-offloads']], { offloads: false }],
    ['pcap', [['--pcap=/tmp/x.pcap'], ['--pcap', '/tmp/x.pcap']], { pcap: '/tmp/x.pcap' }],
    ['busy-poll', [['--busy-poll=200'], ['--busy-poll', '0200'], ['--busy=200']], { busyPollMicroseconds: 200 }],
    ['busy-poll off', [['--busy-poll=0']], { busyPollMicroseconds: 0 }],
    ['busy-poll at its ceiling', [['--busy-poll=1000']], { busyPollMicroseconds: 1000 }],
  ];
  for (const [name, spellings, expected] of cases) {
    it(name, () => {
      for (const spelling of spellings) expect(opts([...spelling, '7', 'tap9'])).toMatchObject({ ...expected, target: '7', tapName: 'tap9' });
    });
  }

  it('--netns-type=path takes a path as target', () => {
    expect(opts(['--netns-type', 'path', '/run/netns/x'])).toMatchObject({ netnsType: 'path', target: '/run/netns/x', tapName: 'tap0' });
  });

  it('clusters short flags, and a flag with a value ends the cluster', () => {
    expect(opts(['-c6', '7'])).toMatchObject({ configure: true, enableIpv6: true });
    expect(opts(['-cr3', '7'])).toMatchObject({ configure: true, readyFd: 3 });
    expect(opts(['-6cm', '9000', '7'])).toMatchObject({ configure: true, enableIpv6: true, mtu: 9000 });
  });

  it('takes options after the positionals, and -- ends options', () => {
    expect(opts(['7', 'tap1', '-c', '--mtu=9000'])).toMatchObject({ configure: true, mtu: 9000, target: '7', tapName: 'tap1' });
    expect(opts(['--netns-type=path', '--', '-odd-path'])).toMatchObject({ target: '-odd-path' });
  });

  it('a later value of the same option wins (getopt)', () => {
    expect(opts(['--mtu=9000', '-m', '1400', '7'])).toMatchObject({ mtu: 1400 });
  });

  it('warns (does not fail) on a third positional, as slirp4netns does', () => {
    expect(run(['7', 'tap0', 'extra']).warnings).toEqual(['too many arguments: ignoring extra']);
  });

  it('help and version act where they appear', () => {
    expect(parseCommandLine(['-h'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--he'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['-v'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['-c', '--help', '--mtu=0'])).toEqual({ kind: 'help' });
    expect(parseCommandLine(['-ch'])).toEqual({ kind: 'help' });
    fails(['--mtu=0', '--help'], /MTU/);
  });
});

describe('parseCommandLine: errors are one line, before any namespace work', () => {
  const cases: [string, string[], RegExp][] = [
    ['no target', [], /missing PID\|PATH/],
    ['unknown long option', ['--frobnicate', '7'], /unrecognized option '--frobnicate'/],
    ['ambiguous prefix', ['--enable', '7'], /ambiguous/],
    ['unknown short option', ['-x', '7'], /invalid option -- 'x'/],
    ['missing value (long)', ['7', '--mtu'], /requires an argument/],
    ['missing value (short)', ['7', '-m'], /requires an argument -- 'm'/],
    ['value on a flag', ['--configure=yes', '7'], /doesn't allow an argument/],
    ['mtu 0', ['--mtu=0', '7'], /MTU must be an integer from 68 to 65521/],
    ['mtu too big', ['--mtu=65522', '7'], /MTU/],
    ['mtu not a number', ['-m', '15x', '7'], /MTU/],
    ['mtu below IPv4 minimum', ['-m', '67', '7'], /MTU/],
    ['negative fd', ['-r', '-1', '7'], /ready-fd must be a non-negative integer/],
    ['exit fd text', ['-e', 'x', '7'], /exit-fd must be a non-negative integer/],
    ['same exit and ready fd', ['-e', '3', '-r', '3', '7'], /must differ/],
    ['bad pid', ['abc'], /PID must be a positive integer/],
    ['pid 0', ['0'], /PID must be a positive integer/],
    ['bad netns-type', ['--netns-type=tapfd', '7'], /--netns-type must be "pid" or "path"/],
    ['cidr not a network address', ['--cidr=10.0.2.100/24', '7'], /network address like 10.0.2.0\/24/],
    ['cidr prefix too long', ['--cidr=10.0.2.0/26', '7'], /prefix length needs to be 1-25/],
    ['cidr garbage', ['--cidr=ten/8', '7'], /invalid CIDR/],
    ['cidr bad octet', ['--cidr=10.0.300.0/24', '7'], /invalid network address/],
    ['macaddress without -c', ['--macaddress=52:54:00:12:34:56', '7'], /--macaddress cannot be specified when --configure/],
    ['bad mac', ['-c', '--macaddress=52:54:00:12:34', '7'], /invalid MAC address/],
    ['multicast mac', ['-c', '--macaddress=01:00:5e:00:00:01', '7'], /multicast/],
    ['target-type bess', ['--target-type=bess', '/tmp/bess.sock'], /bess is not supported/],
    ['target-type other', ['--target-type=vde', '7'], /must be either "netns" or "bess"/],
    ['outbound-addr IPv6', ['--outbound-addr=::1', '7'], /use --outbound-addr6/],
    ['outbound-addr6 IPv4', ['--outbound-addr6=127.0.0.1', '7'], /takes an IPv6 address/],
    ['outbound-addr garbage', ['--outbound-addr=a b', '7'], /valid IPv4 address or interface name/],
    ['log level', ['--log-level=loud', '7'], /--log-level must be one of/],
    ['dns upstream name', ['--dns-upstream=dns.example', '7'], /numeric address/],
    ['dns upstream port', ['--dns-upstream=192.0.2.1:0', '7'], /port must be 1-65535/],
    ['dns upstream with disable-dns', ['--dns-upstream=192.0.2.1', '--disable-dns', '7'], /conflicts with --disable-dns/],
    ['offloads both ways', ['--enable-offloads', '--disable-offloads', '7'], /conflicts/],
    ['empty pcap', ['--pcap=', '7'], /--pcap needs a file name/],
    ['busy-poll above its ceiling', ['--busy-poll=1001', '7'], /--busy-poll must be microseconds from 0 to 1000, got "1001"/],
    ['busy-poll negative', ['--busy-poll=-1', '7'], /--busy-poll must be microseconds/],
    ['busy-poll not a number', ['--busy-poll=50us', '7'], /--busy-poll must be microseconds/],
    ['busy-poll empty', ['--busy-poll=', '7'], /--busy-poll must be microseconds/],
    ['empty api socket', ['--api-socket=', '7'], /needs a path/],
    ['api socket too long', [`--api-socket=/${'x'.repeat(120)}`, '7'], /too long/],
    ['bad tap name', ['7', 'a/b'], /invalid interface name/],
    ['tap name too long', ['7', 'x'.repeat(16)], /invalid interface name/],
  ];
  for (const [name, argv, message] of cases) it(name, () => fails(argv, message));
});

describe('parseDnsUpstream', () => {
  it('takes IPv4, IPv4:port, IPv6, [IPv6]:port', () => {
    expect(parseDnsUpstream('192.0.2.1')).toEqual({ address: '192.0.2.1', port: 53 });
    expect(parseDnsUpstream('192.0.2.1:5353')).toEqual({ address: '192.0.2.1', port: 5353 });
    expect(parseDnsUpstream('2001:db8::1')).toEqual({ address: '2001:db8::1', port: 53 });
    expect(parseDnsUpstream('[2001:db8::1]:5353')).toEqual({ address: '2001:db8::1', port: 5353 });
    expect(parseDnsUpstream('[::1]')).toEqual({ address: '::1', port: 53 });
  });
});

describe('checkHostEnvironment', () => {
  const probe = (over: Partial<HostProbe> = {}): HostProbe => ({
    exists: () => true,
    interfaceAddresses: (name, family) => (name === 'eth0' ? (family === 4 ? ['192.0.2.7'] : ['fe80::1', '2001:db8::7']) : []),
    fdInherited: () => true,
    ...over,
  });

  it('resolves outbound interfaces to their first address of the family (link-local IPv6 skipped)', () => {
    const o = opts(['--outbound-addr=eth0', '--outbound-addr6=eth0', '7']);
    expect(checkHostEnvironment(o, probe())).toEqual({ outboundAddr: '192.0.2.7', outboundAddr6: '2001:db8::7' });
    const literal = opts(['--outbound-addr=192.0.2.9', '7']);
    expect(checkHostEnvironment(literal, probe())).toEqual({ outboundAddr: '192.0.2.9', outboundAddr6: undefined });
  });

  it('refuses unknown interfaces, missing paths, closed fds', () => {
    expect(() => checkHostEnvironment(opts(['--outbound-addr=nope0', '7']), probe())).toThrow(/no such interface/);
    expect(() => checkHostEnvironment(opts(['--userns-path=/x', '7']), probe({ exists: (p) => p !== '/x' }))).toThrow(/userns path doesn't exist/);
    expect(() => checkHostEnvironment(opts(['--netns-type=path', '/x']), probe({ exists: (p) => p !== '/x' }))).toThrow(/existing path expected/);
    expect(() => checkHostEnvironment(opts(['99999']), probe({ exists: () => false }))).toThrow(/no process with PID 99999/);
    expect(() => checkHostEnvironment(opts(['-r', '9', '7']), probe({ fdInherited: () => false }))).toThrow(/ready-fd 9 is not an open file descriptor passed to tslirp/);
  });
});
