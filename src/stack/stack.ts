/**
 * The engine's front door: takes batches of frames from a Link, validates Ethernet, IPv4 and (with
 * config.ipv6) IPv6, answers ARP, NDP (ndp-responder.ts) and ICMP echo for its own addresses, learns
 * the guest, and dispatches transport protocols to pluggable receivers (TCP, UDP, forwarded ICMP) for
 * both families. As the guest's router it expires TTL / hop limit 1 beyond its own addresses and
 * answers what it cannot take (an unknown protocol, an IPv6 header in error) with ICMP errors through
 * the shared, rate-limited sender (icmp-errors.ts). Everything leaves through the output of its
 * address family (outputFor: Ipv4Output, Ipv6Output) and the FrameTransmitter, which flushes the Link
 * once per received batch and once at the end of any other tick that sent frames (host socket events,
 * timers).
 *
 * Must never throw on guest input: every rejection is a counted DropReason, logged at debug.
 * Must never let an exception of its own (a bug) out to the Link either: the native reader would end
 * the process, and with it every flow of the container. A frame whose handling throws is dropped
 * (DropReason.InternalError) and reported to `faults`; the rest of the batch goes on. Parts plugged
 * in contain their own host-side events the same way (one flow, binding or session, not all).
 */
import { FRAME_CHECKSUM_PARTIAL, FRAME_CHECKSUM_VALID, type FrameBatch, type FrameSink, type Link } from '../link/link.js';
import { readUint32 } from '../wire/bytes.js';
import { formatIpv4 } from '../wire/ip-address.js';
import { DropReason, dropReasonName } from '../wire/drop-reason.js';
import { EthernetFrame, EtherType } from '../wire/ethernet.js';
import { IpProtocol, Ipv4Packet } from '../wire/ipv4.js';
import { icmpv4ErrorAllowed, icmpv4ErrorQuoteLength } from '../wire/icmpv4.js';
import { icmpv6ErrorAllowed, icmpv6ErrorQuoteLength, Icmpv6Packet, Icmpv6Type } from '../wire/icmpv6.js';
import { isIpv6Multicast, isIpv6Unspecified } from '../wire/ipv6-address.js';
import { IPV6_DESTINATION_OFFSET, IPV6_SOURCE_OFFSET, Ipv6NextHeader, Ipv6Packet } from '../wire/ipv6.js';
import { Ipv6HeaderChain, walkIpv6Headers } from '../wire/ipv6-extension-headers.js';
import { IpAddresses, isIpv6Handle } from './address-table.js';
import { Icmpv6EchoResponder } from './icmpv6-echo.js';
import { Ipv6Output } from './ipv6-output.js';
import { IPV6_REASSEMBLY_TIMEOUT_MS, Ipv6Reassembler } from './ipv6-reassembly.js';
import { NdpResponder } from './ndp-responder.js';
import { ArpResponder } from './arp-responder.js';
import { SystemClock, type Clock } from './clock.js';
import { ipv6OwnMac, isIpv6GuestSource, isInNetwork, resolveNetworkConfig, type NetworkConfig, type NetworkConfigInput } from './config.js';
import { IcmpEchoResponder } from './icmp-echo.js';
import { FaultLog } from './fault-log.js';
import { IcmpError, IcmpErrorSender, icmpv6TypeAndCode } from './icmp-errors.js';
import { isBroadcastOrMulticast } from './host-address-map.js';
import { FrameTransmitter } from './frame-transmitter.js';
import { Ipv4Datagram, Ipv6Datagram, type IpReceiver } from './ip-datagram.js';
import type { IpOutput } from './ip-output.js';
import { Ipv4Output } from './ipv4-output.js';
import { Ipv4Reassembler, REASSEMBLY_TIMEOUT_MS } from './ipv4-reassembly.js';
import { silentLogger, type Logger } from './logger.js';
import { NeighborTable } from './neighbor-table.js';
import { StackStats } from './stats.js';
import { SystemRandom, type RandomSource } from './random.js';

/** Work to do once per wakeup, after a batch or timer pass, before the Link is flushed (e.g. ACK coalescing). */
export interface BatchObserver {
  afterBatch(): void;
}

export interface StackOptions {
  config?: NetworkConfig | NetworkConfigInput;
  clock?: Clock;
  /** Default: the system CSPRNG; tests pass a SeededRandom. */
  random?: RandomSource;
  logger?: Logger;
}

export class Stack implements FrameSink {
  readonly config: NetworkConfig;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly stats = new StackStats();
  /** Where contained exceptions are counted and logged (rate limited). */
  readonly faults: FaultLog;
  readonly neighbors: NeighborTable;
  readonly ipv4Output: Ipv4Output;
  /** undefined while IPv6 is off (config.ipv6 undefined). */
  readonly ipv6Output: Ipv6Output | undefined;
  /**
   * Addresses of both families as numbers (address-table.ts): IPv6 ones are handles, held by what
   * keys by them (flows, bindings, neighbours) through retain/release.
   */
  readonly addresses: IpAddresses;
  /** Our IPv6 addresses as handles, held for the stack's life; -1 while IPv6 is off. */
  readonly ipv6Gateway: number = -1;
  readonly ipv6Dns: number = -1;
  readonly ipv6GatewayLinkLocal: number = -1;
  readonly ipv6DnsLinkLocal: number = -1;
  /** The way to the Link for every frame, and the flush rule (see frame-transmitter.ts). */
  readonly transmitter: FrameTransmitter;
  /** The one sender of ICMP errors to the guest (Stack, TCP, UDP), for either family, rate limited. */
  readonly icmpErrors: IcmpErrorSender;
  private readonly receivers: (IpReceiver | undefined)[] = new Array(256);
  private readonly observers: BatchObserver[] = [];
  private readonly closers: (() => void)[] = [];
  private readonly arp: ArpResponder;
  private readonly icmpEcho: IcmpEchoResponder;
  // One view object per layer, reused for every frame (STYLE.md: no allocation per frame).
  private readonly ethernet = new EthernetFrame();
  private readonly ipv4 = new Ipv4Packet();
  /** View over a datagram the reassembler completed. */
  private readonly reassembled = new Ipv4Packet();
  /** What receivers see of an IPv4 datagram (the input seam, ip-datagram.ts). */
  private readonly datagram4 = new Ipv4Datagram();
  private readonly ipv6 = new Ipv6Packet();
  /** View over a packet the IPv6 reassembler completed. */
  private readonly reassembled6 = new Ipv6Packet();
  private readonly chain = new Ipv6HeaderChain();
  private readonly icmpv6 = new Icmpv6Packet();
  private readonly datagram6 = new Ipv6Datagram();
  private readonly ndp: NdpResponder | undefined;
  private readonly icmpv6Echo: Icmpv6EchoResponder | undefined;
  private readonly reassembly: Ipv4Reassembler;
  private readonly reassembly6: Ipv6Reassembler;
  private readonly debug: boolean;
  private started = false;
  private closed = false;

  constructor(
    readonly link: Link,
    options: StackOptions = {},
  ) {
    const config = options.config;
    this.config = config && 'ipv4' in config ? config : resolveNetworkConfig({ mtu: link.mtu, ...config });
    this.clock = options.clock ?? new SystemClock();
    this.random = options.random ?? new SystemRandom();
    this.logger = options.logger ?? silentLogger();
    this.debug = this.logger.isLevelEnabled('debug');
    this.faults = new FaultLog(this.stats, this.logger, this.clock);
    this.icmpErrors = new IcmpErrorSender((address) => this.outputFor(address), this.clock, this.stats);
    this.neighbors = new NeighborTable(
      this.config.limits.arpEntries,
      this.config.limits.pendingArpFrames,
      this.clock,
      (address) => (isIpv6Handle(address) ? this.ndp?.solicit(address) : this.arp.request(address)),
      (address) => this.addresses.release(address),
    );
    // The hash seed is drawn only with IPv6 on (nothing is interned without it), so an IPv4-only
    // stack draws the same random sequence as before (seeded tests' initial sequence numbers).
    this.addresses = new IpAddresses(this.config.limits.ipv6Addresses, this.config.ipv6 ? this.random.uint32() : 0);
    this.transmitter = new FrameTransmitter(link, this.stats, this.faults, () => this.runBatchObservers());
    this.ipv4Output = new Ipv4Output(this.transmitter, this.config, this.neighbors, this.random);
    this.arp = new ArpResponder(this.transmitter, this.config, this.neighbors);
    this.icmpEcho = new IcmpEchoResponder(this.ipv4Output);
    this.reassembly = new Ipv4Reassembler(this.config.limits, this.clock, REASSEMBLY_TIMEOUT_MS, (quote) => this.reassemblyTimedOut(quote));
    this.onClose(() => this.reassembly.clear());
    this.reassembly6 = new Ipv6Reassembler(this.config.limits, this.clock, IPV6_REASSEMBLY_TIMEOUT_MS, (quote) => this.reassemblyTimedOut6(quote));
    this.onClose(() => this.reassembly6.clear());
    const v6 = this.config.ipv6;
    if (v6 !== undefined) {
      this.stats.ipv6Enabled = true;
      const pin = (address: Uint8Array): number => this.addresses.intern6(address, 0);
      this.ipv6Gateway = pin(v6.gateway);
      this.ipv6Dns = pin(v6.dns);
      this.ipv6GatewayLinkLocal = pin(v6.gatewayLinkLocal);
      this.ipv6DnsLinkLocal = pin(v6.dnsLinkLocal);
      this.ipv6Output = new Ipv6Output(this.transmitter, this.config, this.neighbors, this.addresses, this.random);
      this.icmpv6Echo = new Icmpv6EchoResponder(this.ipv6Output);
      const ndp = new NdpResponder(this.transmitter, this.config, this.addresses, this.clock, this.random, (handle, mac) => this.learnNeighbor(handle, mac));
      this.ndp = ndp;
      this.onClose(() => ndp.close());
    }
  }

  /** Starts receiving from the link. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.link.start(this);
    this.ndp?.start();
  }

  /**
   * Plugs in the receiver for an IP protocol number (replacing any earlier one). It gets datagrams
   * of that protocol number in either family (TCP and UDP have the same number in both).
   */
  setIpReceiver(protocol: IpProtocol | number, receiver: IpReceiver): void {
    this.receivers[protocol] = receiver;
  }

  addBatchObserver(observer: BatchObserver): void {
    this.observers.push(observer);
  }

  /** Registers cleanup run by close() (host sockets, timers of the parts plugged in). */
  onClose(closer: () => void): void {
    this.closers.push(closer);
  }

  /** Addresses the engine itself answers for (either family). */
  isOwnAddress(address: number): boolean {
    if (isIpv6Handle(address)) {
      return address === this.ipv6Gateway || address === this.ipv6Dns || address === this.ipv6GatewayLinkLocal || address === this.ipv6DnsLinkLocal;
    }
    return address === this.config.ipv4.gateway || address === this.config.ipv4.dns;
  }

  /**
   * Where ICMP errors "from the network" about a datagram to or from address come from: the IPv4
   * gateway, or fe80::2 (libslirp's source for its ICMPv6 errors).
   */
  gatewayFor(address: number): number {
    return isIpv6Handle(address) ? this.ipv6GatewayLinkLocal : this.config.ipv4.gateway;
  }

  /** The output of an address's family, where transports send to it (IPv6: handles at or above 2^32). */
  outputFor(address: number): IpOutput {
    if (isIpv6Handle(address) && this.ipv6Output !== undefined) return this.ipv6Output;
    return this.ipv4Output;
  }

  receiveBatch(batch: FrameBatch): void {
    if (this.closed) return;
    this.transmitter.beginWakeup();
    try {
      for (let i = 0; i < batch.count; i++) {
        let reason: DropReason;
        try {
          reason = this.receiveFrame(batch.data, batch.offsets[i], batch.lengths[i], batch.flags[i]);
        } catch (error) {
          reason = DropReason.InternalError;
          this.faults.report('guest frame', error, 'frame dropped');
        }
        if (reason !== DropReason.None) this.countDrop(reason, batch.data, batch.offsets[i], batch.lengths[i]);
      }
    } finally {
      this.transmitter.endWakeup();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transmitter.close();
    for (const closer of this.closers.splice(0).reverse()) {
      try {
        closer();
      } catch (err) {
        this.logger.warn({ err }, 'error while closing');
      }
    }
    this.link.close();
  }

  /** Counts a drop; at debug level also logs it (the only place a drop builds a string). */
  countDrop(reason: DropReason, bytes?: Uint8Array, offset?: number, length?: number): void {
    this.stats.drop(reason);
    if (this.debug) {
      this.logger.debug({ reason: dropReasonName(reason), length, head: bytes?.subarray(offset, (offset ?? 0) + Math.min(length ?? 0, 64)).toString() }, 'frame dropped');
    }
  }

  private runBatchObservers(): void {
    for (let i = 0; i < this.observers.length; i++) {
      try {
        this.observers[i].afterBatch();
      } catch (error) {
        this.faults.report('end of batch', error, 'rest of that part\'s batch work skipped');
      }
    }
  }

  private receiveFrame(bytes: Uint8Array, offset: number, length: number, flags: number): DropReason {
    this.stats.framesIn++;
    this.stats.bytesIn += length;
    const ethernet = this.ethernet;
    const reason = ethernet.wrap(bytes, offset, length);
    if (reason !== DropReason.None) return reason;
    switch (ethernet.etherType) {
      case EtherType.Ipv4:
        return this.receiveIpv4(ethernet, flags);
      case EtherType.Ipv6:
        // Without --enable-ipv6 IPv6 frames are dropped and counted, as before IPv6 existed.
        if (this.ipv6Output === undefined) return DropReason.UnsupportedEtherType;
        this.stats.ipv6FramesIn++;
        return this.receiveIpv6(ethernet, flags);
      case EtherType.Arp: {
        const arpReason = this.arp.receive(bytes, ethernet.payloadOffset, ethernet.payloadLength, ethernet.source);
        if (this.arp.lastSender !== -1) this.releaseResolved(this.arp.lastSender);
        return arpReason;
      }
      default:
        return DropReason.UnsupportedEtherType;
    }
  }

  private receiveIpv4(ethernet: EthernetFrame, flags: number): DropReason {
    let ip = this.ipv4;
    const reason = ip.wrap(ethernet.bytes, ethernet.payloadOffset, ethernet.payloadLength);
    if (reason !== DropReason.None) return reason;
    const source = ip.source;
    // The guest may only speak from its network, or from 0.0.0.0 while it asks DHCP for an address.
    if (source !== 0) {
      if (!isInNetwork(this.config, source) || this.isOwnAddress(source)) return DropReason.BadAddress;
      if (this.neighbors.learn(source, ethernet.source).newlyResolved) this.releaseResolved(source);
    }
    // Checked per fragment, before reassembly: a router forwards (or expires) each one alone.
    if (ip.ttl <= 1 && this.ttlExpired(ip)) return DropReason.TtlExpired;
    if (ip.isFragment) {
      // Receivers only ever see whole datagrams: fragments wait here (bounded) until complete.
      const held = this.reassembly.receive(ip, ip.fragmentOffset === 0 && !isBroadcastOrMulticast(this.config, ip.destination) && icmpv4ErrorAllowed(ip));
      if (held !== DropReason.None) return held;
      const whole = this.reassembly.takeCompleted();
      if (whole === undefined) return DropReason.None;
      ip = this.reassembled;
      const wrapped = ip.wrap(whole, 0, whole.length);
      if (wrapped !== DropReason.None) return wrapped;
      flags = 0; // checksum offload flags describe the last fragment's frame, not the whole datagram
    }
    const destination = ip.destination;
    if (this.isOwnAddress(destination) && ip.protocol === IpProtocol.Icmp) {
      return this.icmpEcho.receive(ip, flags);
    }
    if (ip.protocol === IpProtocol.Igmp) {
      // Group reports (a guest joining mDNS's group, say): as MLD for IPv6, nothing to track.
      this.stats.igmpIn++;
      return DropReason.None;
    }
    const receiver = this.receivers[ip.protocol];
    if (receiver === undefined) {
      if (isUnknownProtocol(ip.protocol) && !isBroadcastOrMulticast(this.config, destination) && icmpv4ErrorAllowed(ip)) {
        this.icmpErrors.send(IcmpError.ProtocolUnreachable, destination, ip.source, ip.bytes, ip.offset, icmpv4ErrorQuoteLength(ip.headerLength, ip.length));
      }
      return DropReason.UnsupportedProtocol;
    }
    return receiver.receiveIp(this.datagram4.fill(ip), flags);
  }

  /**
   * The gateway's TTL rule (RFC 1812 §5.3.1; ip.ttl ≤ 1): a datagram we carry on to another host
   * (anything not addressed to us, not broadcast, not multicast) would leave with TTL − 1, so TTL 1
   * expires here with ICMP time exceeded from the gateway, which is what the guest's traceroute or
   * `ping -t 1` expects of its first hop. TTL 0 expires whatever the destination (libslirp checks only
   * that, and answers the same). Broadcast and multicast stay on the link: no hop, no check.
   */
  private ttlExpired(ip: Ipv4Packet): boolean {
    const destination = ip.destination;
    if (isBroadcastOrMulticast(this.config, destination)) return false;
    if (ip.ttl === 1 && this.isOwnAddress(destination)) return false;
    if (icmpv4ErrorAllowed(ip)) {
      this.icmpErrors.send(IcmpError.TimeExceeded, this.config.ipv4.gateway, ip.source, ip.bytes, ip.offset, icmpv4ErrorQuoteLength(ip.headerLength, ip.length));
    }
    return true;
  }

  /**
   * An IPv6 packet from the guest: checked (version, length, a source of the guest's prefix or
   * link-local, extension headers walked), then NDP and echo to our addresses answered here, and
   * TCP, UDP and other ICMPv6 (echo to elsewhere) handed to the receivers as an Ipv6Datagram whose
   * addresses are handles held for the call. Multicast is not forwarded (mDNS: counted drops); MLD
   * is taken and counted. A hop limit that expires here, a header the walk rejects and an unknown
   * upper layer are answered with ICMPv6 errors (RFC 8200 §4, RFC 4443), as allowed and rate limited.
   */
  private receiveIpv6(ethernet: EthernetFrame, flags: number): DropReason {
    let ip = this.ipv6;
    let reason = ip.wrap(ethernet.bytes, ethernet.payloadOffset, ethernet.payloadLength);
    if (reason !== DropReason.None) return reason;
    const v6 = this.config.ipv6!;
    if (!isIpv6Unspecified(ip.bytes, ip.sourceOffset) && !isIpv6GuestSource(v6, ip.bytes, ip.sourceOffset)) return DropReason.BadAddress;
    const chain = this.chain;
    reason = walkIpv6Headers(ip, chain);
    if (reason !== DropReason.None) return this.headersRejected(reason, ip, chain, ethernet);
    // As IPv4's TTL (ttlExpired), per fragment; after the walk, which says whether an error may be sent.
    if (ip.hopLimit <= 1 && this.hopLimitExpired(ip, chain, ethernet)) return DropReason.TtlExpired;
    if (chain.protocol === Ipv6NextHeader.Fragment) {
      // Receivers only ever see whole packets: fragments wait here (bounded) until complete.
      // Learnt now (as IPv4 does before reassembly): an error about these fragments may go out before
      // the guest sends anything whole.
      const sender = isIpv6Unspecified(ip.bytes, ip.sourceOffset) ? -1 : this.addresses.intern6(ip.bytes, ip.sourceOffset);
      if (sender !== -1) {
        this.learnNeighbor(sender, ethernet.source);
        this.addresses.release(sender);
      }
      const [type, code] = icmpv6TypeAndCode(IcmpError.ReassemblyTimeExceeded);
      const held = this.reassembly6.receive(ip, chain, icmpv6ErrorAllowed(type, code, ip, chain, isMulticastMac(ethernet.destination)));
      if (held !== DropReason.None) return held;
      const whole = this.reassembly6.takeCompleted();
      if (whole === undefined) return DropReason.None;
      ip = this.reassembled6;
      reason = ip.wrap(whole, 0, whole.length);
      if (reason === DropReason.None) reason = walkIpv6Headers(ip, chain);
      if (reason !== DropReason.None) return this.headersRejected(reason, ip, chain, ethernet);
      if (chain.protocol === Ipv6NextHeader.Fragment) return DropReason.Malformed; // a fragment inside a fragment
      flags = 0; // checksum offload flags describe the last fragment's frame, not the whole packet
    }
    const protocol = chain.protocol;
    const bytes = ip.bytes;
    const sourceAt = ip.sourceOffset;
    const unspecified = isIpv6Unspecified(bytes, sourceAt);
    const destinationAt = ip.destinationOffset;
    const multicast = isIpv6Multicast(bytes, destinationAt);
    const source = unspecified ? -1 : this.addresses.intern6(bytes, sourceAt);
    if (source === -1 && !unspecified) return DropReason.TableFull;
    try {
      if (source !== -1) this.learnNeighbor(source, ethernet.source);
      if (protocol === Ipv6NextHeader.Icmpv6) {
        const icmp = this.icmpv6;
        const verify = (flags & (FRAME_CHECKSUM_PARTIAL | FRAME_CHECKSUM_VALID)) === 0;
        reason = icmp.wrap(bytes, chain.offset, chain.length, verify ? ip.pseudoHeaderSum(Ipv6NextHeader.Icmpv6, chain.length) : null);
        if (reason !== DropReason.None) return reason;
        const type = icmp.type;
        if (type >= Icmpv6Type.RouterSolicitation && type <= Icmpv6Type.Redirect) {
          return this.ndp!.receive(ip, chain.offset, chain.length, source, ethernet.source);
        }
        if (isMld(type)) {
          // A Linux guest reports its groups on every interface up; we are its only router and
          // forward no multicast, so there is nothing to track: taken and counted, not a drop.
          this.stats.mldIn++;
          return DropReason.None;
        }
        if (type !== Icmpv6Type.EchoRequest || source === -1 || multicast) return DropReason.UnsupportedProtocol;
        if (ipv6OwnMac(v6, bytes, destinationAt) >= 0) {
          const own = this.addresses.ipv6.find(bytes, destinationAt);
          return this.icmpv6Echo!.receive(icmp, source, own);
        }
      }
      if (source === -1) return DropReason.BadAddress;
      if (multicast) return DropReason.NotForUs;
      const receiver = this.receivers[protocol];
      if (receiver === undefined && !isUnknownProtocol(protocol)) return DropReason.UnsupportedProtocol;
      const destination = this.addresses.intern6(bytes, destinationAt);
      if (destination === -1) return DropReason.TableFull;
      try {
        if (receiver === undefined) {
          // From the destination, as the host there would answer (and as port unreachable does).
          this.sendIpv6Error(IcmpError.ProtocolUnreachable, destination, ip, chain, ethernet, chain.protocolFieldOffset - ip.offset);
          return DropReason.UnsupportedProtocol;
        }
        return receiver.receiveIp(this.datagram6.fill(ip, source, destination, protocol, chain.offset, chain.length), flags);
      } finally {
        this.addresses.release(destination);
      }
    } finally {
      if (source !== -1) this.addresses.release(source);
    }
  }

  /** A packet the header walk rejected: parameter problem where the walk names one (RFC 8200 §4), then its drop. */
  private headersRejected(reason: DropReason, ip: Ipv6Packet, chain: Ipv6HeaderChain, ethernet: EthernetFrame): DropReason {
    if (chain.problemCode >= 0) this.sendIpv6Error(PARAMETER_PROBLEM[chain.problemCode], this.ipv6GatewayLinkLocal, ip, chain, ethernet, chain.problemPointer);
    return reason;
  }

  /**
   * IPv4's TTL rule for the hop limit (ip.hopLimit ≤ 1): 1 expires what is not for our addresses,
   * 0 anything (libslirp's check), never multicast; ICMPv6 time exceeded from fe80::2.
   */
  private hopLimitExpired(ip: Ipv6Packet, chain: Ipv6HeaderChain, ethernet: EthernetFrame): boolean {
    const destinationAt = ip.destinationOffset;
    if (isIpv6Multicast(ip.bytes, destinationAt)) return false;
    if (ip.hopLimit === 1 && ipv6OwnMac(this.config.ipv6!, ip.bytes, destinationAt) >= 0) return false;
    this.sendIpv6Error(IcmpError.TimeExceeded, this.ipv6GatewayLinkLocal, ip, chain, ethernet, 0);
    return true;
  }

  /**
   * An ICMPv6 error about a packet from the guest, from `from` (fe80::2, libslirp's source for its
   * errors, for what the gateway decides), quoting as much of the packet as fits 1280 bytes, if
   * RFC 4443 §2.4(e) allows one about it.
   */
  private sendIpv6Error(error: IcmpError, from: number, ip: Ipv6Packet, chain: Ipv6HeaderChain, ethernet: EthernetFrame, parameter: number): void {
    const [type, code] = icmpv6TypeAndCode(error);
    if (!icmpv6ErrorAllowed(type, code, ip, chain, isMulticastMac(ethernet.destination))) return;
    const source = this.addresses.intern6(ip.bytes, ip.sourceOffset);
    if (source === -1) return;
    try {
      // Learnt here too: the packet may be dropped before the Stack learns its sender's MAC.
      this.learnNeighbor(source, ethernet.source);
      this.icmpErrors.send(error, from, source, ip.bytes, ip.offset, icmpv6ErrorQuoteLength(ip.length), parameter);
    } finally {
      this.addresses.release(source);
    }
  }

  /**
   * A fragmented datagram whose first fragment came timed out (RFC 792, RFC 8200 §4.5): time exceeded
   * in reassembly to its sender, from its destination (the host that gave up, as Linux sends it).
   * The reassemblers asked icmpv4ErrorAllowed / icmpv6ErrorAllowed of the first fragment already.
   * Runs from the reassembly timer too, so its own failures are contained here.
   */
  private reassemblyTimedOut(quote: Uint8Array): void {
    try {
      this.icmpErrors.send(IcmpError.ReassemblyTimeExceeded, readUint32(quote, 16), readUint32(quote, 12), quote, 0, quote.length);
    } catch (error) {
      this.faults.report('reassembly timeout', error, 'no time exceeded sent');
    }
  }

  private reassemblyTimedOut6(quote: Uint8Array): void {
    const addresses = this.addresses;
    let source = -1;
    let destination = -1;
    try {
      source = addresses.intern6(quote, IPV6_SOURCE_OFFSET);
      destination = addresses.intern6(quote, IPV6_DESTINATION_OFFSET);
      if (source !== -1 && destination !== -1) this.icmpErrors.send(IcmpError.ReassemblyTimeExceeded, destination, source, quote, 0, quote.length);
    } catch (error) {
      this.faults.report('reassembly timeout', error, 'no time exceeded sent');
    } finally {
      if (source !== -1) addresses.release(source);
      if (destination !== -1) addresses.release(destination);
    }
  }

  /** A neighbour's MAC learnt (IPv6 handles are held while in the table); frames waiting for it go out. */
  private learnNeighbor(address: number, mac: number): void {
    if (!this.neighbors.learn(address, mac).newlyResolved) return;
    this.addresses.retain(address);
    this.releaseResolved(address);
  }

  /** Sends frames that were waiting for the MAC of a now-known neighbour. */
  private releaseResolved(address: number): void {
    if (this.neighbors.pendingCount === 0) return;
    for (const waiting of this.neighbors.takePending(address)) {
      // The waiting frame holds head and body together; its IP header is already written.
      this.outputFor(address).sendFrame(address, waiting.frame, null, waiting.info ?? undefined);
    }
  }

  describe(): string {
    return `gateway ${formatIpv4(this.config.ipv4.gateway)}`;
  }
}

/** IcmpError of each Parameter Problem code the IPv6 header walk asks for (codes 0, 1, 2 in order). */
const PARAMETER_PROBLEM: readonly IcmpError[] = [IcmpError.ErroneousHeaderField, IcmpError.ProtocolUnreachable, IcmpError.UnrecognizedOption];

/**
 * An upper-layer protocol this engine never speaks, answered with protocol unreachable (ICMPv4 3/2,
 * ICMPv6 parameter problem 1): not TCP, UDP or ICMP of either family (whose absence is a setup
 * without that engine, not the guest's mistake), and not IPv6's No Next Header (RFC 8200 §4.7: ignored).
 */
function isUnknownProtocol(protocol: number): boolean {
  return protocol !== IpProtocol.Tcp && protocol !== IpProtocol.Udp && protocol !== IpProtocol.Icmp && protocol !== Ipv6NextHeader.Icmpv6 && protocol !== Ipv6NextHeader.NoNextHeader;
}

/** The group bit of a MAC address (its first byte's lowest bit): link-layer multicast or broadcast. */
function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 0x100_0000_0000) % 2 === 1;
}

/** Multicast Listener Discovery (RFC 2710, RFC 3810): query, report, done, version 2 report. */
function isMld(type: number): boolean {
  return (type >= Icmpv6Type.MulticastListenerQuery && type <= Icmpv6Type.MulticastListenerDone) || type === Icmpv6Type.MulticastListenerReportV2;
}
