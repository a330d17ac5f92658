/**
 * The command line of `tslirp run [OPTION]... [--] CMD [ARGS]...`, parsed and checked.
 *
 * Options end at `--` or at the first word that is not an option (so `tslirp run sh -c 'x'` works and
 * CMD's own options are never ours). Pure: no I/O, no engine; every error is one line (an Error).
 */
import { isIP } from 'node:net';
import { parseMtu } from '../wire/ip-address.js';
import { DEFAULT_BUSY_POLL_MICROSECONDS, DEFAULT_OFFLOADS, MAX_BUSY_POLL_MICROSECONDS, parseBusyPoll, parseDnsUpstream, type HostEndpointOption } from './options.js';

export interface PublishSpec {
  readonly proto: 'tcp' | 'udp';
  /** Numeric address to listen on; default 0.0.0.0 (every host address, as podman/docker -p). */
  readonly hostAddr: string;
  readonly hostPort: number;
  readonly guestPort: number;
}

export interface RunArgs {
  readonly help: boolean;
  readonly publish: readonly PublishSpec[];
  readonly mtu: number;
  readonly pcap: string | undefined;
  /** Stop capturing at this many bytes (default: PcapLink's 1 GiB). */
  readonly pcapMaxBytes: number | undefined;
  readonly quiet: boolean;
  /** Where 10.0.2.3:53 forwards to (`ADDR[:PORT]`, `[V6]:PORT`); default: the host's resolv.conf. */
  readonly dnsUpstream: HostEndpointOption | undefined;
  /** Serve the slirp4netns API (and get_stats) on this unix socket while CMD runs. */
  readonly apiSocket: string | undefined;
  readonly disableHostLoopback: boolean;
  readonly offloads: boolean;
  /** IPv6 on the guest network (fd00::/64 by router advertisement); on unless --disable-ipv6. */
  readonly ipv6: boolean;
  /** The longest the event loop polls before it sleeps (options.ts DEFAULT_BUSY_POLL_MICROSECONDS); 0: never. */
  readonly busyPollMicroseconds: number;
  readonly command: readonly string[];
}

export const RUN_USAGE = `Usage: tslirp run [OPTION]... [--] CMD [ARGS]...
Run CMD in its own user (unless root), network and mount namespace with tslirp as its network:
tap0 10.0.2.100/24, gateway 10.0.2.2 (the host's loopback), DNS 10.0.2.3 (in /etc/resolv.conf);
IPv6 too: fd00::/64 by router advertisement, gateway fd00::2 (the host's ::1), DNS fd00::3.
Exits with CMD's exit status (128+N when killed by signal N).
  -p, --publish=[HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|udp]
                              publish a guest port on the host (HOSTADDR default 0.0.0.0;
                              IPv6 as [::]:8080:80, to the same IPv4 guest port); repeatable
  -m, --mtu=MTU               MTU of tap0 (default 1500, max 65521)
      --pcap=FILE             capture every frame to and from CMD's namespace (pcap)
      --pcap-max-bytes=N      stop capturing when FILE reaches N bytes (default 1 GiB)
      --dns-upstream=ADDR[:PORT]
                              resolver that 10.0.2.3 forwards to (default: the host's)
  -a, --api-socket=PATH       serve the slirp4netns API socket (and get_stats) at PATH
      --disable-host-loopback prohibit connecting to the host's loopback (127.0.0.0/8, ::1)
                              via 10.0.2.2 and fd00::2
      --disable-ipv6          IPv4 only (IPv6 frames from CMD are dropped)
      --enable-offloads       checksum/TSO offloads on tap0${DEFAULT_OFFLOADS ? ' (default)' : ''}
      --disable-offloads      plain frames on tap0, one per MSS${DEFAULT_OFFLOADS ? '' : ' (default)'}
      --busy-poll=USEC        poll up to USEC µs before sleeping while traffic is that dense
                              (default ${DEFAULT_BUSY_POLL_MICROSECONDS}, 0 never, max ${MAX_BUSY_POLL_MICROSECONDS})
  -q, --quiet                 no progress line on stderr
  -h, --help                  show this help
`;

export const DEFAULT_RUN_MTU = 1500;

function port(text: string, what: string, spec: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new Error(`invalid ${what} in "${spec}" (a port from 1 to 65535)`);
  }
  return Number(text);
}

/** `[HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|udp]`, with `[v6]` brackets for an IPv6 host address. */
export function parsePublish(spec: string): PublishSpec {
  let rest = spec;
  let proto: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new Error(`invalid protocol in "${spec}" (tcp or udp)`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  let hostAddr = '0.0.0.0';
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (bracket) {
    hostAddr = bracket[1];
    rest = bracket[2];
    if (isIP(hostAddr) !== 6) throw new Error(`invalid host address "${hostAddr}" in "${spec}"`);
  }
  const parts = rest.split(':');
  if (bracket && parts.length !== 2) throw new Error(`invalid publish "${spec}" (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|udp])`);
  if (!bracket && parts.length === 3) {
    hostAddr = parts.shift()!;
    if (isIP(hostAddr) !== 4) throw new Error(`invalid host address "${hostAddr}" in "${spec}" (numeric; IPv6 in brackets)`);
  }
  if (parts.length !== 2) throw new Error(`invalid publish "${spec}" (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|udp])`);
  return { proto, hostAddr, hostPort: port(parts[0], 'host port', spec), guestPort: port(parts[1], 'guest port', spec) };
}

export function formatPublish(p: PublishSpec): string {
  const host = isIP(p.hostAddr) === 6 ? `[${p.hostAddr}]` : p.hostAddr;
  return `${host}:${p.hostPort}->${p.guestPort}/${p.proto}`;
}

type ValueOption = 'publish' | 'mtu' | 'pcap' | 'pcap-max-bytes' | 'dns-upstream' | 'api-socket' | 'busy-poll';
type FlagOption = 'quiet' | 'help' | 'disable-host-loopback' | 'enable-offloads' | 'disable-offloads' | 'disable-ipv6';
const VALUE_OPTIONS: readonly ValueOption[] = ['publish', 'mtu', 'pcap', 'pcap-max-bytes', 'dns-upstream', 'api-socket', 'busy-poll'];
const FLAG_OPTIONS: readonly FlagOption[] = ['quiet', 'help', 'disable-host-loopback', 'enable-offloads', 'disable-offloads', 'disable-ipv6'];
const SHORT: Record<string, ValueOption | FlagOption> = { p: 'publish', m: 'mtu', a: 'api-socket', q: 'quiet', h: 'help' };

export function parseRunArgs(argv: readonly string[]): RunArgs {
  const publish: PublishSpec[] = [];
  let mtu = DEFAULT_RUN_MTU;
  let pcap: string | undefined;
  let pcapMaxBytes: number | undefined;
  let quiet = false;
  let help = false;
  let dnsUpstream: HostEndpointOption | undefined;
  let apiSocket: string | undefined;
  let disableHostLoopback = false;
  let enableOffloads = false;
  let disableOffloads = false;
  let ipv6 = true;
  let busyPollMicroseconds = DEFAULT_BUSY_POLL_MICROSECONDS;
  let i = 0;
  const take = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    if (i + 1 >= argv.length) throw new Error(`option ${name} needs a value (see tslirp run --help)`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    let name: ValueOption | FlagOption | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const long = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      name = [...VALUE_OPTIONS, ...FLAG_OPTIONS].find((o) => o === long);
      if (name === undefined) throw new Error(`unknown option ${arg.split('=')[0]} (see tslirp run --help)`);
      if ((FLAG_OPTIONS as readonly string[]).includes(name) && inline !== undefined) throw new Error(`option --${name} takes no value`);
    } else {
      name = SHORT[arg[1]];
      if (name === undefined) throw new Error(`unknown option -${arg[1]} (see tslirp run --help)`);
      if ((FLAG_OPTIONS as readonly string[]).includes(name)) {
        if (arg.length > 2) throw new Error(`unknown option ${arg} (see tslirp run --help)`);
      } else if (arg.length > 2) inline = arg[2] === '=' ? arg.slice(3) : arg.slice(2);
    }
    const shown = arg.startsWith('--') ? `--${name}` : `-${arg[1]}`;
    switch (name) {
      case 'publish':
        publish.push(parsePublish(take(shown, inline)));
        break;
      case 'mtu': {
        mtu = parseMtu(take(shown, inline));
        break;
      }
      case 'pcap':
        pcap = take(shown, inline);
        if (pcap === '') throw new Error('--pcap needs a file name');
        break;
      case 'pcap-max-bytes': {
        const text = take(shown, inline);
        pcapMaxBytes = Number(text);
        if (!/^\d+$/.test(text) || pcapMaxBytes < 24) throw new Error(`invalid --pcap-max-bytes "${text}" (bytes, at least 24)`);
        break;
      }
      case 'dns-upstream':
        dnsUpstream = parseDnsUpstream(take(shown, inline));
        break;
      case 'api-socket':
        apiSocket = take(shown, inline);
        break;
      case 'busy-poll':
        busyPollMicroseconds = parseBusyPoll(take(shown, inline));
        break;
      case 'quiet':
        quiet = true;
        break;
      case 'help':
        help = true;
        break;
      case 'disable-host-loopback':
        disableHostLoopback = true;
        break;
      case 'enable-offloads':
        enableOffloads = true;
        break;
      case 'disable-offloads':
        disableOffloads = true;
        break;
      case 'disable-ipv6':
        ipv6 = false;
        break;
    }
  }
  if (enableOffloads && disableOffloads) throw new Error('--enable-offloads conflicts with --disable-offloads');
  const offloads = enableOffloads ? true : disableOffloads ? false : DEFAULT_OFFLOADS;
  const command = argv.slice(i);
  if (!help && command.length === 0) throw new Error('run: no command given (tslirp run [OPTION]... -- CMD [ARGS]...)');
  const seen = new Set<string>();
  for (const p of publish) {
    const key = `${p.proto} ${p.hostAddr} ${p.hostPort}`;
    if (seen.has(key)) throw new Error(`host port ${formatPublish(p)} is published twice`);
    seen.add(key);
  }
  return { help, publish, mtu, pcap, pcapMaxBytes, quiet, dnsUpstream, apiSocket, disableHostLoopback, offloads, ipv6, busyPollMicroseconds, command };
}
