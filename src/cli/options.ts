/**
 * The slirp4netns 1.2 command line, parsed and checked: `tslirp [OPTION]... PID|PATH [TAPNAME]`.
 *
 * Spelling follows GNU getopt_long as slirp4netns uses it: `--mtu=65520` and `--mtu 65520`, `-m 65520`
 * and `-m65520`, clustered short flags (`-c6`, `-cr3`), unambiguous long prefixes (`--conf`), options
 * after the positionals, and `--` to end options. `-h`/`-v` act where they appear (an earlier bad
 * option is still reported first, as getopt does).
 *
 * Must stay cheap and pure: this module runs for `--help` and `--version` before every container start
 * (podman once, RootlessKit twice), so it imports no engine, no logger, no native addon. It never touches
 * a namespace or a file; checks that need the file system (paths exist, interface names) are in
 * checkHostEnvironment(). Every error is one line, thrown as a CliError.
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { DEFAULT_CIDR, DEFAULT_MTU, MAX_MTU, parseIpv4Cidr, parseMtu as parseMtuText } from '../wire/ip-address.js';

export const SLIRP4NETNS_COMPAT_VERSION = '1.2.0';
export const DEFAULT_TAP_NAME = 'tap0';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A bad or conflicting command line; main prints `tslirp: <message>` and exits 1. */
export class CliError extends Error {}

export interface HostEndpointOption {
  readonly address: string;
  readonly port: number;
}

export interface CliOptions {
  readonly configure: boolean;
  readonly exitFd: number | undefined;
  readonly readyFd: number | undefined;
  readonly mtu: number;
  readonly enableIpv6: boolean;
  readonly apiSocket: string | undefined;
  readonly cidr: string;
  readonly disableHostLoopback: boolean;
  readonly netnsType: 'pid' | 'path';
  readonly usernsPath: string | undefined;
  readonly enableSandbox: boolean;
  readonly enableSeccomp: boolean;
  /** IPv4 literal or interface name, as given; resolved by checkHostEnvironment(). */
  readonly outboundAddr: string | undefined;
  /** IPv6 literal or interface name, as given; resolved by checkHostEnvironment(). */
  readonly outboundAddr6: string | undefined;
  readonly disableDns: boolean;
  readonly macAddress: string | undefined;
  readonly targetType: 'netns';
  // Ours, beyond slirp4netns:
  /** undefined: TSLIRP_LOG_LEVEL or info. */
  readonly logLevel: LogLevel | undefined;
  /** The resolver 10.0.2.3:53 forwards to; undefined: the first nameserver of /etc/resolv.conf. */
  readonly dnsUpstream: HostEndpointOption | undefined;
  /** IFF_VNET_HDR with checksum/TSO offloads on the TAP. */
  readonly offloads: boolean;
  /** The longest the event loop polls before it sleeps, adaptively (native/busy_poll.h); 0: never. */
  readonly busyPollMicroseconds: number;
  /** Tee every frame to and from the guest into this pcap file. */
  readonly pcap: string | undefined;
  /** PID (netnsType pid) or network namespace path (netnsType path). */
  readonly target: string;
  readonly tapName: string;
}

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: CliOptions; readonly warnings: readonly string[] };

/**
 * Default of --enable-offloads/--disable-offloads (slirp4netns mode and `tslirp run`): on. With
 * virtio-net checksum and TSO offloads one writev carries a 64 KiB segment to the guest instead of
 * one per MSS, and the guest hands us 64 KiB super-frames with checksums left partial: at MTU 1500
 * a published port's host → guest iperf3 went from 2.43 to 13.87 Gbit/s (CPU 3.28 → 0.58 s/GB;
 * slirp4netns 1.98), guest → host 4.10 → 11.07 (bench/results/tcp-iperf-2026-12-07.md). slirp4netns
 * has no such flag: the default is ours, and a podman user expects the fastest correct one. A
 * kernel that refuses TUNSETOFFLOAD still takes the vnet header (native/ns_attach.c asks for less).
 * Off only where a bit flipped on the wire must reach the guest's checksum check (fault injection).
 */
export const DEFAULT_OFFLOADS = true;

/**
 * Default of --busy-poll (slirp4netns mode and `tslirp run`): the event loop polls for up to 50 µs
 * before it sleeps, while waits that short keep paying off and no other task wants the CPU
 * (native/busy_poll.h). In 64 B request/response that removes the relay's two sleeps per round
 * trip: 1.3-1.5x the round trips of --busy-poll=0, p50 63-71 → 46 µs, and no more CPU per request
 * (bench/results/latency-2026-12-07.md, 14:47 UTC). Idle or sparse traffic does not spin (the window
 * closes after waits longer than it), so idle wakeups stay 0; on a busy machine it backs off. The
 * cost is up to one otherwise idle core while a flow's gaps stay under 50 µs.
 */
export const DEFAULT_BUSY_POLL_MICROSECONDS = 50;
/** --busy-poll's ceiling: beyond a millisecond the saved wakeup is noise next to the spin. */
export const MAX_BUSY_POLL_MICROSECONDS = 1000;

/**
 * The help text. Keeps slirp4netns's usage line and one line per option, because podman and
 * RootlessKit grep it for flag names (a missing one silently disables the feature in the client).
 */
export const HELP_TEXT = `Usage: tslirp [OPTION]... PID|PATH [TAPNAME]
User-mode networking for unprivileged network namespaces (slirp4netns ${SLIRP4NETNS_COMPAT_VERSION} compatible).

-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating slirp4netns
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-m, --mtu=MTU            specify MTU (default=${DEFAULT_MTU}, max=${MAX_MTU})
-6, --enable-ipv6        enable IPv6 (fd00::/64 by router advertisement)
-a, --api-socket=PATH    specify API socket path
--cidr=CIDR              specify network address CIDR (default=${DEFAULT_CIDR})
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--netns-type=TYPE        specify network namespace type ([path|pid], default=pid)
--userns-path=PATH       specify user namespace path
--enable-sandbox         set no_new_privs and, if running as root, drop all caps except CAP_NET_BIND_SERVICE
--enable-seccomp         set no_new_privs and a seccomp filter denying syscalls a relay never needs
--outbound-addr=IPv4     sets outbound ipv4 address (or interface) to bind host sockets to
--outbound-addr6=IPv6    sets outbound ipv6 address (or interface) to bind host sockets to
--disable-dns            disables 10.0.2.3 (or configured internal ip) to host dns redirect
--macaddress=MAC         specify the MAC address of the TAP (only valid with -c)
--target-type=TYPE       specify the target type ([netns], default=netns; bess is not supported)
--log-level=LEVEL        JSON log level on stderr (trace|debug|info|warn|error|fatal|silent, default=info or $TSLIRP_LOG_LEVEL)
--dns-upstream=ADDR[:PORT] resolver for 10.0.2.3:53 (default: first nameserver in /etc/resolv.conf)
--enable-offloads        use IFF_VNET_HDR with checksum and TSO offloads on the TAP${DEFAULT_OFFLOADS ? ' (default)' : ''}
--disable-offloads       plain TAP frames without offloads${DEFAULT_OFFLOADS ? '' : ' (default)'}
--pcap=FILE              capture every frame to and from the guest into FILE (pcap, readable by tcpdump)
--busy-poll=USEC         poll up to USEC µs before sleeping while traffic is that dense (default=${DEFAULT_BUSY_POLL_MICROSECONDS}, 0=never, max=${MAX_BUSY_POLL_MICROSECONDS})
-h, --help               show this help and exit
-v, --version            show version and exit
`;

/** The libslirp release whose behaviour the engine reproduces (what Debian's slirp4netns 1.2.0 links). */
export const LIBSLIRP_COMPAT_VERSION = '4.7.0';
/** libslirp 4.7's SLIRP_CONFIG_VERSION_MAX: scripts gate features on it (3+: --disable-dns, 2+: --outbound-addr). */
export const SLIRP_CONFIG_VERSION_MAX = 4;

/**
 * `--version`: the lines slirp4netns prints, in its order and `key: value` shape, so scripts that
 * parse them keep working (the first line's third word, `grep "SLIRP_CONFIG_VERSION_MAX: "`). The
 * versions carry semver build metadata (`+tslirp-X`) to say this is tslirp and still parse as the
 * slirp4netns/libslirp level it answers for; the last line is ours. The single source of these
 * bytes: a native launcher answering --version must print exactly this.
 */
export function versionText(version: string): string {
  const build = `+tslirp-${version}`;
  return [
    `slirp4netns version ${SLIRP4NETNS_COMPAT_VERSION}${build}`,
    'commit: unknown',
    `libslirp: ${LIBSLIRP_COMPAT_VERSION}${build}`,
    `SLIRP_CONFIG_VERSION_MAX: ${SLIRP_CONFIG_VERSION_MAX}`,
    'libseccomp: none',
    `tslirp: ${version}`,
    '',
  ].join('\n');
}

type Arity = 'none' | 'required';
interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  readonly arity: Arity;
}

const SPECS: readonly OptionSpec[] = [
  { long: 'configure', short: 'c', arity: 'none' },
  { long: 'exit-fd', short: 'e', arity: 'required' },
  { long: 'ready-fd', short: 'r', arity: 'required' },
  { long: 'mtu', short: 'm', arity: 'required' },
  { long: 'enable-ipv6', short: '6', arity: 'none' },
  { long: 'api-socket', short: 'a', arity: 'required' },
  { long: 'cidr', arity: 'required' },
  { long: 'disable-host-loopback', arity: 'none' },
  { long: 'no-host-loopback', arity: 'none' }, // deprecated spelling slirp4netns still takes
  { long: 'netns-type', arity: 'required' },
  { long: 'userns-path', arity: 'required' },
  { long: 'enable-sandbox', arity: 'none' },
  { long: 'create-sandbox', arity: 'none' }, // deprecated spelling slirp4netns still takes
  { long: 'enable-seccomp', arity: 'none' },
  { long: 'outbound-addr', arity: 'required' },
  { long: 'outbound-addr6', arity: 'required' },
  { long: 'disable-dns', arity: 'none' },
  { long: 'macaddress', arity: 'required' },
  { long: 'target-type', arity: 'required' },
  { long: 'log-level', arity: 'required' },
  { long: 'dns-upstream', arity: 'required' },
  { long: 'enable-offloads', arity: 'none' },
  { long: 'disable-offloads', arity: 'none' },
  { long: 'pcap', arity: 'required' },
  { long: 'busy-poll', arity: 'required' },
  { long: 'help', short: 'h', arity: 'none' },
  { long: 'version', short: 'v', arity: 'none' },
];

const BY_SHORT = new Map(SPECS.filter((s) => s.short).map((s) => [s.short as string, s]));

/** getopt_long: an exact name, or a prefix that names exactly one option. */
function findLong(name: string): OptionSpec {
  const exact = SPECS.find((s) => s.long === name);
  if (exact) return exact;
  const candidates = SPECS.filter((s) => s.long.startsWith(name));
  if (candidates.length === 1 && name.length > 0) return candidates[0];
  if (candidates.length > 1) {
    throw new CliError(`option '--${name}' is ambiguous; possibilities: ${candidates.map((s) => `'--${s.long}'`).join(' ')}`);
  }
  throw new CliError(`unrecognized option '--${name}' (see --help)`);
}

function parseFd(text: string, name: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new CliError(`${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** `--busy-poll=USEC`, shared with `tslirp run` (run-args.ts). */
export function parseBusyPoll(text: string): number {
  if (!/^\d{1,7}$/.test(text) || Number(text) > MAX_BUSY_POLL_MICROSECONDS) {
    throw new CliError(`--busy-poll must be microseconds from 0 to ${MAX_BUSY_POLL_MICROSECONDS}, got "${text}"`);
  }
  return Number(text);
}

function parseMtu(text: string): number {
  return asCliError(() => parseMtuText(text));
}

/** slirp4netns's rules (src/wire/ip-address.ts): a network address (host bits zero) with a prefix of 1-25. */
export function checkCidr(cidr: string): string {
  asCliError(() => parseIpv4Cidr(cidr));
  return cidr;
}

/** The address module reports bad operator input as a plain Error: the same message, as a CliError. */
function asCliError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function checkMac(text: string): string {
  const m = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$/.exec(text);
  if (!m) throw new CliError(`"${text}" is an invalid MAC address (hex string, 6 bytes, each byte separated by a ':')`);
  if (parseInt(m[1], 16) & 1) throw new CliError(`"${text}" is a multicast MAC address and cannot be an interface's`);
  return m.slice(1).map((b) => b.padStart(2, '0').toLowerCase()).join(':');
}

/** ADDR, ADDR:PORT, [V6ADDR] or [V6ADDR]:PORT; a bare IPv6 address is taken whole. */
export function parseDnsUpstream(text: string): HostEndpointOption {
  let address = text;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4port = /^([^:]+):(\d+)$/.exec(text);
  if (bracket) {
    address = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (v4port) {
    address = v4port[1];
    port = Number(v4port[2]);
  }
  if (isIP(address) === 0) throw new CliError(`--dns-upstream needs a numeric address with an optional port (e.g. 192.0.2.1:53 or [2001:db8::1]:53), got "${text}"`);
  if (!(port >= 1 && port <= 65535)) throw new CliError(`--dns-upstream port must be 1-65535, got "${text}"`);
  return { address, port };
}

function checkInterfaceName(text: string, what: string): void {
  if (text.length === 0 || text.length > 15 || /[\s/:]/.test(text)) {
    throw new CliError(`${what} has to be a valid ${what === '--outbound-addr' ? 'IPv4' : 'IPv6'} address or interface name, got "${text}"`);
  }
}

/** Parses argv (without node and script). Throws CliError with a one-line reason. */
export function parseCommandLine(argv: readonly string[]): CliCommand {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  const warnings: string[] = [];

  const take = (spec: OptionSpec, value: string | undefined): CliCommand | undefined => {
    if (spec.long === 'help') return { kind: 'help' };
    if (spec.long === 'version') return { kind: 'version' };
    if (spec.arity === 'none') flags.add(spec.long);
    else values.set(spec.long, value as string);
    // slirp4netns checks these inside its getopt loop: a bad one is reported even if --help follows.
    if (spec.long === 'mtu') parseMtu(value as string);
    else if (spec.long === 'exit-fd' || spec.long === 'ready-fd') parseFd(value as string, spec.long);
    return undefined;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = findLong(name);
      let value: string | undefined;
      if (spec.arity === 'none') {
        if (eq >= 0) throw new CliError(`option '--${spec.long}' doesn't allow an argument`);
      } else if (eq >= 0) {
        value = arg.slice(eq + 1);
      } else {
        value = argv[++i];
        if (value === undefined) throw new CliError(`option '--${spec.long}' requires an argument`);
      }
      const done = take(spec, value);
      if (done) return done;
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A cluster of short options; one taking a value ends it (`-cr3`, `-m 1500`).
      for (let j = 1; j < arg.length; j++) {
        const spec = BY_SHORT.get(arg[j]);
        if (!spec) throw new CliError(`invalid option -- '${arg[j]}' (see --help)`);
        let value: string | undefined;
        if (spec.arity === 'required') {
          value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
          if (value === undefined) throw new CliError(`option requires an argument -- '${arg[j]}'`);
          j = arg.length;
        }
        const done = take(spec, value);
        if (done) return done;
      }
      continue;
    }
    positional.push(arg); // GNU getopt permutes: options may follow the positionals
  }

  const has = (name: string): boolean => flags.has(name);
  const value = (name: string): string | undefined => values.get(name);

  const configure = has('configure');
  const exitFd = value('exit-fd') === undefined ? undefined : parseFd(value('exit-fd') as string, 'exit-fd');
  const readyFd = value('ready-fd') === undefined ? undefined : parseFd(value('ready-fd') as string, 'ready-fd');
  if (exitFd !== undefined && exitFd === readyFd) throw new CliError(`exit-fd and ready-fd must differ, both are ${exitFd}`);
  const mtu = value('mtu') === undefined ? DEFAULT_MTU : parseMtu(value('mtu') as string);
  const enableIpv6 = has('enable-ipv6');
  const apiSocket = value('api-socket');
  if (apiSocket !== undefined) {
    if (apiSocket.length === 0) throw new CliError('--api-socket needs a path');
    // sun_path holds 108 bytes including the terminating NUL.
    if (Buffer.byteLength(apiSocket) > 107) throw new CliError(`--api-socket path is too long (max 107 bytes): ${apiSocket}`);
  }
  const cidr = checkCidr(value('cidr') ?? DEFAULT_CIDR);
  if (has('no-host-loopback')) warnings.push('--no-host-loopback is deprecated, use --disable-host-loopback');
  const disableHostLoopback = has('disable-host-loopback') || has('no-host-loopback');
  const netnsTypeText = value('netns-type') ?? 'pid';
  if (netnsTypeText !== 'pid' && netnsTypeText !== 'path') throw new CliError(`--netns-type must be "pid" or "path", got "${netnsTypeText}"`);
  const netnsType: 'pid' | 'path' = netnsTypeText;
  const usernsPath = value('userns-path');
  if (usernsPath !== undefined && usernsPath.length === 0) throw new CliError('--userns-path needs a path');
  if (has('create-sandbox')) warnings.push('--create-sandbox is deprecated, use --enable-sandbox');
  const enableSandbox = has('enable-sandbox') || has('create-sandbox');
  const enableSeccomp = has('enable-seccomp');
  const outboundAddr = value('outbound-addr');
  if (outboundAddr !== undefined && isIP(outboundAddr) !== 4) {
    if (isIP(outboundAddr) === 6) throw new CliError(`--outbound-addr takes an IPv4 address or interface name, got IPv6 "${outboundAddr}" (use --outbound-addr6)`);
    checkInterfaceName(outboundAddr, '--outbound-addr');
  }
  const outboundAddr6 = value('outbound-addr6');
  if (outboundAddr6 !== undefined && isIP(outboundAddr6) !== 6) {
    if (isIP(outboundAddr6) === 4) throw new CliError(`--outbound-addr6 takes an IPv6 address or interface name, got IPv4 "${outboundAddr6}"`);
    checkInterfaceName(outboundAddr6, '--outbound-addr6');
  }
  const disableDns = has('disable-dns');
  const macText = value('macaddress');
  if (macText !== undefined && !configure) throw new CliError('--macaddress cannot be specified when --configure or -c is not specified');
  const macAddress = macText === undefined ? undefined : checkMac(macText);
  const targetType = value('target-type') ?? 'netns';
  if (targetType === 'bess') throw new CliError('--target-type=bess is not supported by tslirp (only netns)');
  if (targetType !== 'netns') throw new CliError(`--target-type must be either "netns" or "bess", got "${targetType}"`);
  const logLevelText = value('log-level');
  if (logLevelText !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevelText)) {
    throw new CliError(`--log-level must be one of ${LOG_LEVELS.join('|')}, got "${logLevelText}"`);
  }
  const logLevel = logLevelText as LogLevel | undefined;
  const dnsUpstream = value('dns-upstream') === undefined ? undefined : parseDnsUpstream(value('dns-upstream') as string);
  if (dnsUpstream && disableDns) throw new CliError('--dns-upstream conflicts with --disable-dns');
  if (has('enable-offloads') && has('disable-offloads')) throw new CliError('--enable-offloads conflicts with --disable-offloads');
  const offloads = has('enable-offloads') ? true : has('disable-offloads') ? false : DEFAULT_OFFLOADS;
  const pcap = value('pcap');
  if (pcap !== undefined && pcap.length === 0) throw new CliError('--pcap needs a file name');
  const busyPollText = value('busy-poll');
  const busyPollMicroseconds = busyPollText === undefined ? DEFAULT_BUSY_POLL_MICROSECONDS : parseBusyPoll(busyPollText);

  if (positional.length < 1) throw new CliError('missing PID|PATH (usage: tslirp [OPTION]... PID|PATH [TAPNAME]; see --help)');
  if (positional.length > 2) warnings.push(`too many arguments: ignoring ${positional.slice(2).join(' ')}`);
  const target = positional[0];
  if (netnsType === 'pid' && !/^[1-9]\d{0,9}$/.test(target)) throw new CliError(`PID must be a positive integer, got "${target}"`);
  if (netnsType === 'path' && target.length === 0) throw new CliError('the network namespace path is empty');
  const tapName = positional[1] ?? DEFAULT_TAP_NAME;
  if (tapName.length === 0 || Buffer.byteLength(tapName) > 15 || /[\s/:]/.test(tapName)) {
    throw new CliError(`invalid interface name "${tapName}" (1-15 bytes, no '/', ':' or spaces)`);
  }

  return {
    kind: 'run',
    warnings,
    options: {
      configure,
      exitFd,
      readyFd,
      mtu,
      enableIpv6,
      apiSocket,
      cidr,
      disableHostLoopback,
      netnsType,
      usernsPath,
      enableSandbox,
      enableSeccomp,
      outboundAddr,
      outboundAddr6,
      disableDns,
      macAddress,
      targetType: 'netns',
      logLevel,
      dnsUpstream,
      offloads,
      pcap,
      busyPollMicroseconds,
      target,
      tapName,
    },
  };
}

/** What checkHostEnvironment() resolved: outbound bind addresses as numeric literals. */
export interface HostEnvironment {
  readonly outboundAddr: string | undefined;
  readonly outboundAddr6: string | undefined;
}

export interface HostProbe {
  exists(path: string): boolean;
  /** Numeric addresses of an interface by family, [] when there is no such interface. */
  interfaceAddresses(name: string, family: 4 | 6): string[];
  /** Whether fd is open and was inherited from the caller (not one of Node's own descriptors). */
  fdInherited(fd: number): boolean;
}

export function systemHostProbe(): HostProbe {
  return {
    exists: (path) => existsSync(path),
    interfaceAddresses: (name, family) =>
      (networkInterfaces()[name] ?? []).filter((a) => a.family === (family === 4 ? 'IPv4' : 'IPv6')).map((a) => a.address),
    // Node keeps descriptors of its own (epoll, eventfd, its signal pipes with both ends held here);
    // writing "1" into one of those would break the event loop, so a number naming one is refused.
    // A descriptor a client passes is a pipe end, socket, file or device whose other end is elsewhere.
    fdInherited: (fd) => {
      let target: string;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return false;
      }
      if (target.startsWith('anon_inode:')) return false;
      if (target.startsWith('pipe:')) {
        for (const other of readdirSync('/proc/self/fd')) {
          if (Number(other) === fd) continue;
          try {
            if (readlinkSync(`/proc/self/fd/${other}`) === target) return false;
          } catch {
            // closed meanwhile (the directory's own fd): not a second end
          }
        }
      }
      return true;
    },
  };
}

/**
 * Checks against the host what parsing cannot (still before any namespace is touched): the paths
 * exist, the fds are open, an outbound interface has an address of the right family.
 */
export function checkHostEnvironment(options: CliOptions, probe: HostProbe): HostEnvironment {
  if (options.usernsPath !== undefined && !probe.exists(options.usernsPath)) throw new CliError(`userns path doesn't exist: ${options.usernsPath}`);
  if (options.netnsType === 'path' && !probe.exists(options.target)) throw new CliError(`existing path expected when --netns-type=path: ${options.target}`);
  if (options.netnsType === 'pid' && !probe.exists(`/proc/${options.target}`)) throw new CliError(`no process with PID ${options.target}`);
  for (const [fd, name] of [[options.exitFd, 'exit-fd'], [options.readyFd, 'ready-fd']] as const) {
    if (fd !== undefined && !probe.fdInherited(fd)) throw new CliError(`${name} ${fd} is not an open file descriptor passed to tslirp`);
  }
  const resolve = (given: string | undefined, family: 4 | 6, flag: string): string | undefined => {
    if (given === undefined || isIP(given) === family) return given;
    const addresses = probe.interfaceAddresses(given, family).filter((a) => !(family === 6 && a.toLowerCase().startsWith('fe80:')));
    if (addresses.length === 0) throw new CliError(`${flag} ${given}: no such interface with an IPv${family} address`);
    return addresses[0];
  };
  return {
    outboundAddr: resolve(options.outboundAddr, 4, '--outbound-addr'),
    outboundAddr6: resolve(options.outboundAddr6, 6, '--outbound-addr6'),
  };
}
