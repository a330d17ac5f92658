/**
 * IPv6 end-to-end helpers (issue 15): which implementations the IPv6 checks run against, a guest
 * started with `-6 --configure` and waited on until the kernel has its SLAAC address (tentative →
 * valid) and its default route, `ip -6` views of the guest, a router solicitation sent from the guest
 * with the advertisement it brings back decoded field by field, and the kernel's IPv6 counters.
 *
 * The facts slirp4netns 1.2.0 (libslirp 4.7.0) was measured to give are in SLIRP4NETNS_IPV6; the
 * tests assert them against slirp4netns and, where tslirp is meant to match, against tslirp too.
 *
 * Network rule: only fd00::/64 inside the guest, host loopback, and the veth test hosts of
 * published-guest.ts. Never kills anything but what the tracker started.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { interfaceInfo, OutputLog, requireOrSkip, type ProcessTracker, type TestNamespace } from './netns.js';
import { implementationPrerequisite, startPublishedGuest, type Cleanup, type GuestOptions, type Implementation, type PublishedGuest } from './published-guest.js';

/** The parts of issue 15 an IPv6 end-to-end check exercises (one switch each, below). */
export type Ipv6Area =
  /** SLAAC, router advertisements, neighbour discovery, echo to our own addresses. */
  | 'link'
  /** Echo to other hosts through ICMPv6 ping sockets. */
  | 'echo-forward'
  /** TCP over IPv6 (fd00::2 → [::1], test hosts as themselves, --disable-host-loopback, bulk). */
  | 'tcp'
  /** UDP over IPv6 (echo, fragments both ways, port unreachable). */
  | 'udp'
  /** DNS at fd00::3. */
  | 'dns'
  /** Published ports on IPv6 host addresses and to the guest's IPv6 address. */
  | 'hostfwd'
  /** podman with enable_ipv6=true. */
  | 'podman';

/**
 * THE SWITCHES for tslirp's IPv6 end-to-end checks: an area listed here has its tslirp entries
 * created (and so run in CI); an area not listed exists for slirp4netns only, with no tslirp entry at
 * all (no skipped test in CI). Issue 15 adds each area once tslirp passes its checks; each test
 * already holds its tslirp expectations. `TSLIRP_IPV6_E2E=1` in the environment runs every tslirp
 * entry by hand.
 */
export const TSLIRP_IPV6: ReadonlySet<Ipv6Area> = new Set<Ipv6Area>(['link', 'echo-forward', 'tcp', 'udp', 'dns', 'hostfwd', 'podman']);

/** Whether tslirp's entries for area are on (or TSLIRP_IPV6_E2E=1 asks for all of them). */
export function tslirpIpv6(area: Ipv6Area): boolean {
  return TSLIRP_IPV6.has(area) || process.env.TSLIRP_IPV6_E2E === '1';
}

/** The implementations an IPv6 check of area runs against (the `for (const impl of …)` of every ipv6-*.test.ts). */
export function ipv6Implementations(area: Ipv6Area): Implementation[] {
  return tslirpIpv6(area) ? ['slirp4netns', 'tslirp'] : ['slirp4netns'];
}

/** Whether a check of area runs against impl (for a check inside a describe of another area). */
export function ipv6Checked(impl: Implementation, area: Ipv6Area): boolean {
  return impl === 'slirp4netns' || tslirpIpv6(area);
}

/**
 * What slirp4netns 1.2.0 with libslirp 4.7.0 does with `-6`, measured here (tcpdump on tap0, the
 * guest's `ip -6`, and libslirp's ip6_icmp.[ch] for the timer constants):
 * - No router advertisement until the guest solicits one: the periodic timer first fires 200–600 s
 *   after start (random, NDP_MinRtrAdvInterval..NDP_MaxRtrAdvInterval), then again every 200–600 s.
 *   A Router Solicitation is answered at once (< 1 ms), always to ff02::1 (all nodes), from fe80::2.
 * - RA: IPv6 hop limit 255; Cur Hop Limit 64; M = O = 0; router lifetime 1800 s; reachable time 0;
 *   retrans timer 0; options, in order: source link-layer address 52:56:00:00:00:02, prefix
 *   fd00::/64 with L and A, valid 86400 s, preferred 14400 s; then RDNSS fd00::3 (lifetime 1200000 s:
 *   libslirp writes 2 × its 600000 ms interval as seconds) ONLY when the host's resolv.conf names an
 *   IPv6 nameserver. No MTU option: the guest keeps tap0's MTU.
 * - The guest (Linux, addr_gen_mode eui64) gets fd00::EUI-64/64 "global dynamic mngtmpaddr",
 *   about 3 s after start (link-local DAD 1 s, RS, then DAD of the global address 1 s), a prefix
 *   route fd00::/64 and `default via fe80::2 proto ra` (expires 1800 s).
 * - Neighbour advertisements for fd00::2 and fe80::2 (MAC 52:56:00:00:00:02), fd00::3 and fe80::3
 *   (52:56:00:00:00:03), flags router+solicited+override; nothing else on the link is answered
 *   (fd00::4 stays INCOMPLETE). Echo to all four answered, hop limit 255, also with
 *   --disable-host-loopback. Echo to any other address: not forwarded, no answer, nothing said.
 * - TCP and UDP to fd00::2 reach the host's [::1] (never 127.0.0.1), seen there from ::1; its SYN|ACK
 *   carries only an MSS option (no window scale, SACK or timestamps), window 65535.
 * - --disable-host-loopback: TCP and UDP to fd00::2 get ICMPv6 destination unreachable code 0 (no
 *   route) from fe80::2: connect() fails with ENETUNREACH, a UDP socket hears nothing (a soft error).
 * - A UDP datagram to a closed port of [::1] gets ICMPv6 port unreachable with source ::1 (the
 *   host's error reflected), which the guest's kernel drops as a martian: the guest hears nothing.
 * - No IPv6 fragment reassembly: a fragmented datagram from the guest is dropped silently. No
 *   fragmentation towards the guest either: an 8000-byte reply goes out as one 8062-byte frame on
 *   an MTU 1500 link (the TAP delivers it, the guest takes it).
 * - DNS to fd00::3 (UDP and TCP) goes to the resolv.conf nameserver when it is IPv6 (its queries
 *   arrive from ::1 when it is ::1); with only an IPv4 nameserver, fd00::3 gets ICMPv6 no route
 *   (UDP: timeout, TCP: ENETUNREACH) and the IPv4 resolver is never asked.
 * - add_hostfwd with an IPv6 host_addr ("::", "::1", "[::1]") answers
 *   `{"error":{"desc":"bad request: add_hostfwd: bad arguments.host_addr"}}`, with an IPv6
 *   guest_addr `…bad arguments.guest_addr"}}`; nothing is listed.
 * - It logs "WARNING: Support for IPv6 is experimental" at start.
 */
export const SLIRP4NETNS_IPV6 = {
  prefix: 'fd00::',
  prefixLength: 64,
  gateway: 'fd00::2',
  dns: 'fd00::3',
  gatewayLinkLocal: 'fe80::2',
  dnsLinkLocal: 'fe80::3',
  gatewayMac: '52:56:00:00:00:02',
  dnsMac: '52:56:00:00:00:03',
  raCurHopLimit: 64,
  raRouterLifetime: 1800,
  raPrefixValid: 86400,
  raPrefixPreferred: 14400,
  raRdnssLifetime: 1_200_000,
  minRtrAdvIntervalSeconds: 200,
  maxRtrAdvIntervalSeconds: 600,
  hostfwdIpv6HostAddrError: '{"error":{"desc":"bad request: add_hostfwd: bad arguments.host_addr"}}',
  hostfwdIpv6GuestAddrError: '{"error":{"desc":"bad request: add_hostfwd: bad arguments.guest_addr"}}',
} as const;

/** Why an IPv6 e2e check cannot run against impl here (tools included), or undefined. */
export function ipv6Prerequisite(impl: Implementation, tools: readonly string[] = []): string | undefined {
  const missing = implementationPrerequisite(impl);
  if (missing) return missing;
  for (const tool of ['python3', ...tools]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  if (!existsSync('/proc/net/if_inet6')) return 'needs IPv6 in this kernel (/proc/net/if_inet6)';
  return undefined;
}

/** requireOrSkip for ipv6Prerequisite (skips outside CI, fails in CI). */
export function requireIpv6(ctx: { skip: (note?: string) => void }, impl: Implementation, tools: readonly string[] = []): void {
  requireOrSkip(ctx, ipv6Prerequisite(impl, tools));
}

export interface Ipv6Address {
  readonly address: string;
  readonly prefixLength: number;
  readonly scope: string;
  readonly tentative: boolean;
  /** Learnt from a router advertisement (SLAAC): "dynamic" in `ip -6 addr`. */
  readonly dynamic: boolean;
  readonly validLifetime: number | 'forever';
  readonly preferredLifetime: number | 'forever';
}

/** `ip -j -6 addr show dev DEV` inside ns. */
export async function ipv6Addresses(ns: TestNamespace, dev = 'tap0'): Promise<Ipv6Address[]> {
  const parsed = JSON.parse(await ns.exec('ip', ['-j', '-6', 'addr', 'show', 'dev', dev])) as {
    addr_info?: {
      family: string;
      local: string;
      prefixlen: number;
      scope: string;
      tentative?: boolean;
      dynamic?: boolean;
      valid_life_time: number;
      preferred_life_time: number;
    }[];
  }[];
  const lifetime = (n: number): number | 'forever' => (n >= 0xffffffff ? 'forever' : n);
  return (parsed[0]?.addr_info ?? [])
    .filter((a) => a.family === 'inet6')
    .map((a) => ({
      address: a.local,
      prefixLength: a.prefixlen,
      scope: a.scope,
      tentative: a.tentative === true,
      dynamic: a.dynamic === true,
      validLifetime: lifetime(a.valid_life_time),
      preferredLifetime: lifetime(a.preferred_life_time),
    }));
}

export interface Ipv6Route {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly protocol?: string;
  readonly expires?: number;
}

/** `ip -j -6 route show` inside ns. */
export async function ipv6Routes(ns: TestNamespace): Promise<Ipv6Route[]> {
  return JSON.parse(await ns.exec('ip', ['-j', '-6', 'route', 'show'])) as Ipv6Route[];
}

export interface Ipv6Neighbour {
  readonly dst: string;
  readonly lladdr?: string;
  readonly router: boolean;
  readonly state: string[];
}

/** `ip -j -6 neigh show dev DEV` inside ns. */
export async function ipv6Neighbours(ns: TestNamespace, dev = 'tap0'): Promise<Ipv6Neighbour[]> {
  const parsed = JSON.parse(await ns.exec('ip', ['-j', '-6', 'neigh', 'show', 'dev', dev])) as { dst: string; lladdr?: string; router?: null | boolean; state: string[] }[];
  // iproute2 prints the router flag as `"router": null`.
  return parsed.map((n) => ({ dst: n.dst, lladdr: n.lladdr, router: 'router' in n, state: n.state }));
}

/** The EUI-64 SLAAC address a Linux guest forms from prefix::/64 and its MAC (RFC 4291 appendix A). */
export function eui64Address(prefix: string, mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const groups = [((b[0] ^ 0x02) << 8) | b[1], (b[2] << 8) | 0xff, (0xfe << 8) | b[3], (b[4] << 8) | b[5]];
  return `${prefix}${groups.map((g) => g.toString(16)).join(':')}`;
}

export interface Slaac {
  /** The guest's global address from the advertised prefix, no longer tentative. */
  readonly address: string;
  readonly prefixLength: number;
  readonly validLifetime: number | 'forever';
  readonly preferredLifetime: number | 'forever';
  /** The default route's next hop (a link-local address) and its protocol ("ra"). */
  readonly gateway: string;
  readonly routeProtocol?: string;
  readonly routeExpires?: number;
  /** From waitForSlaac's call until both were there. */
  readonly seconds: number;
}

/**
 * Waits until tap0 has a global address in prefix/64 that is no longer tentative (duplicate address
 * detection done) and the namespace has an IPv6 default route through tap0.
 */
export async function waitForSlaac(ns: TestNamespace, options: { prefix?: string; dev?: string; timeoutMs?: number } = {}): Promise<Slaac> {
  const prefix = options.prefix ?? SLIRP4NETNS_IPV6.prefix;
  const dev = options.dev ?? 'tap0';
  const start = Date.now();
  const deadline = start + (options.timeoutMs ?? 15_000);
  let last = '';
  for (;;) {
    const addresses = await ipv6Addresses(ns, dev);
    const routes = await ipv6Routes(ns);
    const global = addresses.find((a) => a.scope === 'global' && a.address.startsWith(prefix) && !a.tentative);
    const route = routes.find((r) => r.dst === 'default' && r.dev === dev && r.gateway !== undefined);
    if (global && route) {
      return {
        address: global.address,
        prefixLength: global.prefixLength,
        validLifetime: global.validLifetime,
        preferredLifetime: global.preferredLifetime,
        gateway: route.gateway as string,
        routeProtocol: route.protocol,
        routeExpires: route.expires,
        seconds: (Date.now() - start) / 1000,
      };
    }
    last = JSON.stringify({ addresses, routes });
    if (Date.now() > deadline) throw new Error(`no SLAAC address in ${prefix}/64 with a default route on ${dev}: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Ipv6Guest {
  readonly guest: PublishedGuest;
  readonly slaac: Slaac;
  /** tap0's MAC. */
  readonly mac: string;
}

/**
 * A namespace with impl attached by `-6 --configure` (MTU 65520 unless given) and an API socket,
 * resolved once the guest's kernel has configured itself from the router advertisement.
 */
export async function startIpv6Guest(impl: Implementation, tracker: ProcessTracker, cleanups: Cleanup[], options: Omit<GuestOptions, 'ipv6'> = {}): Promise<Ipv6Guest> {
  const guest = await startPublishedGuest(impl, tracker, cleanups, { ...options, ipv6: true });
  await guest.ns.exec('ip', ['link', 'set', 'lo', 'up']);
  const slaac = await waitForSlaac(guest.ns).catch((error: Error) => {
    throw new Error(`${error.message}\n${impl} log:\n${guest.log.text}`);
  });
  const { mac } = await interfaceInfo(guest.ns, 'tap0');
  return { guest, slaac, mac };
}

/** One option of a router advertisement, decoded (unknown types keep their raw bytes). */
export type RaOption =
  | { type: 'source-link-layer'; mac: string }
  | { type: 'prefix'; prefix: string; prefixLength: number; onLink: boolean; autonomous: boolean; validLifetime: number; preferredLifetime: number }
  | { type: 'rdnss'; lifetime: number; servers: string[] }
  | { type: 'mtu'; mtu: number }
  | { type: number; hex: string };

export interface RouterAdvertisement {
  /** The advertisement's IPv6 source and destination, and the hop limit it arrived with. */
  readonly source: string;
  readonly destination: string;
  readonly hopLimit: number;
  readonly curHopLimit: number;
  readonly managed: boolean;
  readonly otherConfig: boolean;
  readonly routerLifetime: number;
  readonly reachableTime: number;
  readonly retransTimer: number;
  readonly options: RaOption[];
  /** From our solicitation to the advertisement, in milliseconds. */
  readonly milliseconds: number;
}

/**
 * Guest side: sends one Router Solicitation to ff02::2 on tap0 from a raw ICMPv6 socket (hop limit
 * 255, source link-layer option) and prints the first Router Advertisement that comes back as JSON,
 * or {"timeout": true}. The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
 */
const RA_CLIENT = String.raw`
import json, select, socket, struct, sys, time
dev, mac, wait = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), float(sys.argv[3])
ifindex = socket.if_nametoindex(dev)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
rs = struct.pack('>BBHI', 133, 0, 0, 0) + bytes([1, 1]) + mac
t0 = time.monotonic()
s.sendto(rs, ('ff02::2', 0, 0, ifindex))
while True:
    left = wait - (time.monotonic() - t0)
    if left <= 0 or not select.select([s], [], [], left)[0]:
        print(json.dumps({'timeout': True}))
        sys.exit(0)
    data, anc, flags, peer = s.recvmsg(65536, 1024)
    if len(data) < 16 or data[0] != 134:
        continue
    ms = (time.monotonic() - t0) * 1000
    hop, dst = None, None
    for level, kind, value in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
            hop = struct.unpack('i', value[:4])[0]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            dst = socket.inet_ntop(socket.AF_INET6, value[:16])
    chl, fl, lifetime, reach, retrans = struct.unpack('>BBHII', data[4:16])
    options = []
    at = 16
    while at + 2 <= len(data):
        otype, olen = data[at], data[at + 1] * 8
        if olen == 0 or at + olen > len(data):
            options.append({'type': otype, 'hex': data[at:].hex()})
            break
        body = data[at:at + olen]
        if otype == 1 and olen >= 8:
            options.append({'type': 'source-link-layer', 'mac': ':'.join('%02x' % b for b in body[2:8])})
        elif otype == 3 and olen == 32:
            plen, pfl, valid, pref = struct.unpack('>BBII', body[2:12])
            options.append({'type': 'prefix', 'prefix': socket.inet_ntop(socket.AF_INET6, body[16:32]), 'prefixLength': plen,
                            'onLink': bool(pfl & 0x80), 'autonomous': bool(pfl & 0x40), 'validLifetime': valid, 'preferredLifetime': pref})
        elif otype == 25 and olen >= 24:
            servers = [socket.inet_ntop(socket.AF_INET6, body[i:i + 16]) for i in range(8, olen, 16)]
            options.append({'type': 'rdnss', 'lifetime': struct.unpack('>I', body[4:8])[0], 'servers': servers})
        elif otype == 5 and olen == 8:
            options.append({'type': 'mtu', 'mtu': struct.unpack('>I', body[4:8])[0]})
        else:
            options.append({'type': otype, 'hex': body.hex()})
        at += olen
    print(json.dumps({'source': peer[0].split('%')[0], 'destination': dst, 'hopLimit': hop, 'curHopLimit': chl,
                      'managed': bool(fl & 0x80), 'otherConfig': bool(fl & 0x40), 'routerLifetime': lifetime,
                      'reachableTime': reach, 'retransTimer': retrans, 'options': options, 'milliseconds': ms}))
    sys.exit(0)
`;

/** Solicits a router advertisement from inside ns and decodes it; undefined when none came within waitSeconds. */
export async function solicitRouterAdvertisement(ns: TestNamespace, waitSeconds = 3, dev = 'tap0'): Promise<RouterAdvertisement | undefined> {
  // (/sys is the host's under nsenter -n: the MAC comes from ip.)
  const { mac } = await interfaceInfo(ns, dev);
  const parsed = JSON.parse(await ns.exec('python3', ['-c', RA_CLIENT, dev, mac, String(waitSeconds)], (waitSeconds + 10) * 1000)) as RouterAdvertisement | { timeout: true };
  return 'timeout' in parsed ? undefined : parsed;
}

/** The guest kernel's IPv6 counters (/proc/net/snmp6 of its namespace), e.g. Ip6ReasmOKs, Ip6FragCreates. */
export async function ipv6Counters(ns: TestNamespace): Promise<Record<string, number>> {
  const text = await ns.exec('cat', ['/proc/net/snmp6']);
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length === 2)
      .map(([name, value]) => [name, Number(value)]),
  );
}

/** ping -6 from inside ns: how many of count answered, and the hop limit (ttl=) of the answers. */
export async function ping6(ns: TestNamespace, target: string, count = 2): Promise<{ received: number; ttl?: number; output: string }> {
  const output = await ns.exec('ping', ['-6', '-c', String(count), '-i', '0.2', '-W', '2', target], 30_000).catch((error: Error) => error.message);
  const received = Number(/(\d+) received/.exec(output)?.[1] ?? 0);
  const ttl = /ttl=(\d+)/.exec(output)?.[1];
  return { received, ttl: ttl === undefined ? undefined : Number(ttl), output };
}

/**
 * A peer for small TCP and UDP exchanges, run as python3 on the host or inside a namespace: TCP reads
 * to EOF and answers "PEER LENGTH SHA256\n"; UDP echoes each datagram unchanged, except "SEND N",
 * answered with N patterned bytes. It prints one JSON line with its ports, then one per exchange:
 * {"proto", "peer", "length"}.
 */
const PEER_SERVER = String.raw`
import hashlib, json, socket, sys, threading
host = sys.argv[1]
family = socket.AF_INET6 if ':' in host else socket.AF_INET
t = socket.socket(family, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((host, 0)); t.listen(64)
u = socket.socket(family, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
u.bind((host, 0))
lock = threading.Lock()
def say(obj):
    with lock:
        print(json.dumps(obj), flush=True)
def serve(c, peer):
    h = hashlib.sha256(); n = 0
    while True:
        d = c.recv(65536)
        if not d: break
        h.update(d); n += len(d)
    c.sendall(('%s %d %s\n' % (peer[0], n, h.hexdigest())).encode()); c.close()
    say({'proto': 'tcp', 'peer': peer[0], 'length': n})
def tcp():
    while True:
        c, peer = t.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()
def udp():
    while True:
        d, peer = u.recvfrom(65536)
        if d.startswith(b'SEND '):
            n = int(d[5:])
            u.sendto(bytes((i * 7 + 3) & 0xff for i in range(n)), peer)
        else:
            u.sendto(d, peer)
        say({'proto': 'udp', 'peer': peer[0], 'length': len(d)})
threading.Thread(target=tcp, daemon=True).start()
say({'tcp': t.getsockname()[1], 'udp': u.getsockname()[1]})
udp()
`;

export interface PeerServer {
  readonly tcpPort: number;
  readonly udpPort: number;
  /** Every exchange so far, in order. */
  exchanges(): { proto: 'tcp' | 'udp'; peer: string; length: number }[];
}

/** Starts PEER_SERVER on host (an address of the host, or of the namespace nsPid when given). */
export async function startPeerServer(tracker: ProcessTracker, host: string, nsPid?: number): Promise<PeerServer> {
  const child = nsPid === undefined ? tracker.spawn('python3', ['-c', PEER_SERVER, host]) : tracker.spawn('nsenter', ['-t', String(nsPid), '-n', 'python3', '-c', PEER_SERVER, host]);
  const log = new OutputLog(child);
  await log.waitFor(/"udp": \d+/, child, 10_000);
  const lines = (): Record<string, unknown>[] =>
    log.text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ports = lines()[0] as { tcp: number; udp: number };
  return {
    tcpPort: ports.tcp,
    udpPort: ports.udp,
    exchanges: () => lines().slice(1) as { proto: 'tcp' | 'udp'; peer: string; length: number }[],
  };
}

/**
 * Guest side of one exchange with a PEER_SERVER (or any server): TCP sends SIZE patterned bytes,
 * half-closes and reads the answer to EOF; UDP sends one datagram of SIZE bytes on a connected socket
 * and reads one back; udp-ask asks for SIZE patterned bytes with a small datagram. Prints {"reply": TEXT} ({"same": bool, "length"} for UDP) or
 * {"error": "ConnectionRefusedError:ECONNREFUSED"}-style names, or "TimeoutError".
 */
const GUEST_EXCHANGE = String.raw`
import errno, json, socket, sys
proto, host, port, size, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
payload = bytes((i * 7 + 3) & 0xff for i in range(size))
try:
    if proto == 'tcp':
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        r = b''
        while True:
            d = s.recv(65536)
            if not d: break
            r += d
        print(json.dumps({'reply': r.decode('utf8', 'replace')}))
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.connect((host, port))
        # udp-ask: a small request for SIZE bytes back (PEER_SERVER's "SEND N").
        s.send(b'SEND %d' % size if proto == 'udp-ask' else payload)
        r = s.recv(65536)
        print(json.dumps({'same': r == payload, 'length': len(r)}))
except Exception as e:
    code = getattr(e, 'errno', None)
    print(json.dumps({'error': type(e).__name__ + (':' + errno.errorcode.get(code, str(code)) if code else '')}))
`;

export type GuestExchange = { reply: string } | { same: boolean; length: number } | { error: string };

/** One TCP or UDP exchange from inside ns with host:port (see GUEST_EXCHANGE). */
export async function guestExchange(ns: TestNamespace, proto: 'tcp' | 'udp' | 'udp-ask', host: string, port: number, size = 100, timeoutSeconds = 3): Promise<GuestExchange> {
  const out = await ns.exec('python3', ['-c', GUEST_EXCHANGE, proto, host, String(port), String(size), String(timeoutSeconds)], (timeoutSeconds + 15) * 1000);
  return JSON.parse(out) as GuestExchange;
}

/**
 * The TCP options the guest's kernel negotiated on a connection to host:port, read with `ss -ti`
 * while it is open: which of window scaling, SACK and timestamps the peer (our side) agreed to,
 * and the MSS the guest sends with.
 */
const GUEST_TCP_OPTIONS = String.raw`
import json, re, socket, subprocess, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
local = s.getsockname()
# The kernel's own record of what was agreed (struct tcp_info: tcpi_options is byte 5, TCPI_OPT_*):
# (ss -i of iproute2-6.1 here prints no "ts"/"sack" words, even for a loopback connection that has both.)
options = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5]
out = subprocess.run(['ss', '-tinH', 'sport', '=', ':%d' % local[1]], capture_output=True, text=True).stdout
s.close()
print(json.dumps({'wscale': (options & 4) != 0, 'sack': (options & 2) != 0, 'timestamps': (options & 1) != 0, 'mss': int(re.search(r'\smss:(\d+)', out).group(1)), 'ss': out.strip()}))
`;

export async function guestTcpOptions(ns: TestNamespace, host: string, port: number): Promise<{ wscale: boolean; sack: boolean; timestamps: boolean; mss: number; ss: string }> {
  return JSON.parse(await ns.exec('python3', ['-c', GUEST_TCP_OPTIONS, host, String(port)], 20_000)) as { wscale: boolean; sack: boolean; timestamps: boolean; mss: number; ss: string };
}
