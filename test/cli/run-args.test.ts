import { describe, expect, test } from 'vitest';
import { formatPublish, parsePublish, parseRunArgs } from '../../src/cli/run-args.js';
import { networkUpLine, signalStatus, terminalSignalsOurGroup } from '../../src/cli/run-command.js';

describe('tslirp run arguments', () => {
  test('defaults, and options end at -- or at the first non-option', () => {
    expect(parseRunArgs(['--', 'sh', '-c', 'echo hi'])).toEqual({
      help: false,
      publish: [],
      mtu: 1500,
      pcap: undefined,
      pcapMaxBytes: undefined,
      quiet: false,
      dnsUpstream: undefined,
      apiSocket: undefined,
      disableHostLoopback: false,
      offloads: true,
      ipv6: true,
      busyPollMicroseconds: 50,
      command: ['sh', '-c', 'echo hi'],
    });
    expect(parseRunArgs(['-q', 'curl', '-p', 'x']).command).toEqual(['curl', '-p', 'x']);
    expect(parseRunArgs(['--', '--weird']).command).toEqual(['--weird']);
  });

  test('every option in its spellings', () => {
    const args = parseRunArgs([
      '-p', '8080:80',
      '--publish=127.0.0.1:5353:53/udp',
      '-p[::1]:9090:90/tcp',
      '--mtu', '65520',
      '--pcap=/tmp/x.pcap',
      '--pcap-max-bytes', '1000',
      '--quiet',
      '--dns-upstream=127.0.0.1:5300',
      '-a', '/tmp/api.sock',
      '--disable-host-loopback',
      '--enable-offloads',
      '--disable-ipv6',
      '--busy-poll=120',
      'true',
    ]);
    expect(args.publish).toEqual([
      { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 8080, guestPort: 80 },
      { proto: 'udp', hostAddr: '127.0.0.1', hostPort: 5353, guestPort: 53 },
      { proto: 'tcp', hostAddr: '::1', hostPort: 9090, guestPort: 90 },
    ]);
    expect(args).toMatchObject({ mtu: 65520, pcap: '/tmp/x.pcap', pcapMaxBytes: 1000, quiet: true, dnsUpstream: { address: '127.0.0.1', port: 5300 }, apiSocket: '/tmp/api.sock', disableHostLoopback: true, offloads: true, ipv6: false, busyPollMicroseconds: 120, command: ['true'] });
    expect(args.publish.map(formatPublish)).toEqual(['0.0.0.0:8080->80/tcp', '127.0.0.1:5353->53/udp', '[::1]:9090->90/tcp']);
    expect(parseRunArgs(['--disable-offloads', 'true']).offloads).toBe(false);
    expect(() => parseRunArgs(['--enable-offloads', '--disable-offloads', 'true'])).toThrow(/conflicts/);
    expect(parseRunArgs(['--busy-poll', '0', 'true']).busyPollMicroseconds).toBe(0);
    expect(() => parseRunArgs(['--busy-poll=2000', 'true'])).toThrow(/--busy-poll must be microseconds from 0 to 1000, got "2000"/);
    expect(parseRunArgs(['-h']).help).toBe(true);
    expect(parseRunArgs(['-m9000', 'x']).mtu).toBe(9000);
  });

  test.each([
    [[], /no command given/],
    [["--mtu", "40", "x"], /MTU must be an integer from 68 to 65521, got "40"/],
    [['--mtu'], /needs a value/],
    [['--bogus', 'x'], /unknown option --bogus/],
    [['-z', 'x'], /unknown option -z/],
    [['--quiet=1', 'x'], /takes no value/],
    [['-p', '80', 'x'], /invalid publish "80"/],
    [['-p', '0:80', 'x'], /invalid host port/],
    [['-p', '80:70000', 'x'], /invalid guest port/],
    [['-p', '80:80/sctp', 'x'], /invalid protocol/],
    [['-p', 'localhost:80:80', 'x'], /invalid host address "localhost"/],
    [['-p', '[1.2.3.4]:80:80', 'x'], /invalid host address/],
    [['-p', '80:80', '-p', '0.0.0.0:80:81', 'x'], /published twice/],
    [['--pcap=', 'x'], /needs a file name/],
    [['--disable-ipv6=1', 'x'], /takes no value/],
    [['-p', '[::1]80:80', 'x'], /invalid publish/],
    [['-p', '[fe80::1:80:80', 'x'], /invalid publish|invalid host address/],
    [['--dns-upstream', 'resolver.example:53', 'x'], /--dns-upstream needs a numeric address/],
  ])('%j is refused in one line', (argv, error) => {
    expect(() => parseRunArgs(argv)).toThrow(error);
  });

  test('IPv6 is on by default; --disable-ipv6 turns it off', () => {
    expect(parseRunArgs(['x']).ipv6).toBe(true);
    expect(parseRunArgs(['--disable-ipv6', 'x']).ipv6).toBe(false);
    expect(parsePublish('[::]:8080:80/udp')).toEqual({ proto: 'udp', hostAddr: '::', hostPort: 8080, guestPort: 80 });
  });

  test('udp and tcp may share a host port', () => {
    expect(parseRunArgs(['-p', '53:53/udp', '-p', '53:53', 'x']).publish).toHaveLength(2);
    expect(parsePublish('1:2')).toEqual({ proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 1, guestPort: 2 });
  });

  test('status of a killed CMD, and the progress line', () => {
    expect(signalStatus('SIGTERM')).toBe(143);
    expect(signalStatus('SIGKILL')).toBe(137);
    const args = parseRunArgs(['-p', '127.0.0.1:8080:80', '-p', '[::]:8080:80', '--pcap', 'f.pcap', 'x']);
    expect(networkUpLine(args, 'tap0', '10.0.2.100/24', '10.0.2.2', '10.0.2.3')).toBe(
      'tslirp: network up: tap0 10.0.2.100/24 gateway 10.0.2.2 dns 10.0.2.3 mtu 1500; IPv6 fd00::/64 by router advertisement, gateway fd00::2 dns fd00::3; published 127.0.0.1:8080->80/tcp, [::]:8080->80/tcp; capturing to f.pcap\n',
    );
    expect(networkUpLine(parseRunArgs(['--disable-ipv6', 'x']), 'tap0', '10.0.2.100/24', '10.0.2.2', '10.0.2.3')).toBe(
      'tslirp: network up: tap0 10.0.2.100/24 gateway 10.0.2.2 dns 10.0.2.3 mtu 1500\n',
    );
  });

  test('a terminal signal is not forwarded twice: foreground group of a tty, read from /proc/self/stat', () => {
    // pid (comm) state ppid pgrp session tty_nr tpgid ...
    expect(terminalSignalsOurGroup('4242 (node (x)) S 100 4242 100 34816 4242 4194304 0')).toBe(true);
    expect(terminalSignalsOurGroup('4242 (node) S 100 4242 100 34816 5000 4194304 0')).toBe(false); // background
    expect(terminalSignalsOurGroup('4242 (node) S 100 4242 100 0 -1 4194304 0')).toBe(false); // no terminal
    expect(typeof terminalSignalsOurGroup()).toBe('boolean');
  });
});
