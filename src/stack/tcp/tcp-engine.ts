/**
 * The TCP engine: terminates every guest TCP connection and re-originates it as a host socket, and
 * opens flows into the guest for published ports (from any source address: the client's own).
 *
 * This file owns the flow table, the handshakes (guest active open: SYN-ACK only once the host socket
 * is connected, RST on refusal, ICMP on unreachable, and HostAddressMap.refusal's answer when a
 * destination leads nowhere; a connect that failed inside the call, as to a closed loopback port,
 * is answered at once and leaves no flow behind; our active open: SYN with retries), teardown,
 * timers and the per-batch ACK coalescing. Steady state lives in sender.ts and receiver.ts.
 *
 * Every change of a flow's state goes through transition(): the table of flow-state.ts says the
 * next state and the lifecycle actions (resets, the host socket's fate, TIME-WAIT, release), and
 * transition() performs them, in one fixed order. Callers raise events and do the handshake's
 * packets around them.
 *
 * Never throws on guest input: bad segments are counted drops. Bounded: flows by limits.tcpFlows,
 * buffers per flow (flow.ts), handshakes and half-closed idles by time. Eviction rule of a full
 * table: a newcomer takes the place of the oldest flow that is not established (a handshake in
 * progress, or a flow lingering in TIME-WAIT); only when every flow is established is it refused
 * (RST), so a flood of SYNs to hosts that never answer cannot lock new connections out, and no
 * connection that carries data is ever given up for a newcomer. A SYN whose connect is refused at
 * once evicts nobody.
 *
 * Fault containment: an exception of ours while handling one flow's segment, host event or timer
 * resets that flow (RST to the guest, host socket destroyed, reported to stack.faults) and never
 * reaches the other flows or the event loop.
 */
import { FRAME_CHECKSUM_PARTIAL, FRAME_CHECKSUM_VALID } from '../../link/link.js';
import { DropReason } from '../../wire/drop-reason.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { seqAdd, seqGe, seqLt } from '../../wire/tcp-seq.js';
import { parseTcpOptions, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpOptions, TcpSegment } from '../../wire/tcp.js';
import { isIpv6Handle } from '../address-table.js';
import { Refusal, type HostAddressMap } from '../host-address-map.js';
import { IcmpError } from '../icmp-errors.js';
import type { IpDatagram, IpReceiver } from '../ip-datagram.js';
import type { BatchObserver, Stack } from '../stack.js';
import { Flow, OUR_WINDOW_SCALE, SEND_BUFFER, type FlowTuple } from './flow.js';
import { actionsOf, FlowAction, FlowEvent, FlowState, IGNORED, isEmbryonic, isHalfClosed, isSynchronized, nextStateOf, transitionOf } from './flow-state.js';
import { describeFlow, type FlowDebug } from './flow-debug.js';
import { EvictionOrder } from './eviction-order.js';
import { FlowTable } from './flow-table.js';
import { HostConnectError, type HostEventWakeup, type HostStreamEvents, type HostStreamFactory, type HostTcpPort } from './host-tcp-port.js';
import { ReceiveResult, TcpReceiver } from './receiver.js';
import { SegmentEmitter } from './segment-emitter.js';
import { AckFields, INITIAL_RTO_MS, TcpSender } from './sender.js';
import { TimerQueue } from './timer-queue.js';

/** SYN or SYN-ACK retransmissions before a handshake is given up (1+2+4+8+16 s). */
const HANDSHAKE_RETRIES = 5;
/** A host connect that takes longer is abandoned (the guest gave up long before). */
const HOST_CONNECT_TIMEOUT_MS = 75_000;
/** Linger after both FINs, to re-acknowledge a retransmitted FIN. */
const TIME_WAIT_MS = 2_000;
/** A flow with one direction finished and no traffic for this long is reset. */
const HALF_CLOSED_IDLE_MS = 10 * 60_000;
/**
 * How long the ACK of the guest's FIN may wait for our FIN (or data) to carry it, while the host
 * socket is still open: the host usually closes within microseconds of our shutdown (a server that
 * ends on EOF), and then one FIN|ACK answers where an ACK and a FIN went (as a Linux peer's delayed
 * ACK does; its minimum is 40 ms). The guest, in FIN-WAIT-1, retransmits its FIN only after an RTO.
 */
const FIN_ACK_DELAY_MS = 20;
/** How far past a TIME-WAIT connection's last sequence number a new one on its tuple starts. */
const ISS_REUSE_GAP = 1 << 20;

/** Why a flow was given up, for the debug log (the sender names its own: PeerTimeout). */
const ABORT_REASONS: Partial<Record<FlowEvent, string>> = {
  [FlowEvent.HostRefused]: 'host socket error',
  [FlowEvent.HostError]: 'host socket error',
  [FlowEvent.HostClosed]: 'host socket closed',
  [FlowEvent.LifeExpired]: 'half-closed idle',
  [FlowEvent.HandshakeTimeout]: 'handshake timeout',
  [FlowEvent.Evicted]: 'evicted from a full table',
  [FlowEvent.Fault]: 'internal error',
};

export interface TcpEngineOptions {
  readonly hostPort: HostTcpPort;
  readonly addressMap: HostAddressMap;
}

export class TcpEngine implements IpReceiver, BatchObserver {
  private readonly flows = new FlowTable<Flow>();
  /** Flows not established (handshakes, TIME-WAIT), oldest first: what a full table gives up first. */
  private readonly embryonic = new EvictionOrder<Flow>();
  private readonly timers: TimerQueue;
  private readonly emitter: SegmentEmitter;
  private readonly sender: TcpSender;
  private readonly receiver = new TcpReceiver();
  private readonly segment = new TcpSegment();
  private readonly options = new TcpOptions();
  /** The ACK fields of the segment at hand, for the sender (one record, refilled per segment). */
  private readonly ackFields = new AckFields();
  private dirty: Flow[] = [];
  /** The other of two lists that take turns as `dirty` (a batch allocates no list). */
  private dirtySpare: Flow[] = [];
  private readonly hostPort: HostTcpPort;
  private readonly addressMap: HostAddressMap;
  private readonly onFlowTimer = (flow: Flow, now: number): void => {
    try {
      this.handleTimer(flow, now);
    } catch (error) {
      this.contain(flow, 'tcp timer', error);
    }
  };
  private readonly onFlowFault = (flow: Flow, error: unknown): void => this.contain(flow, 'tcp host write', error);

  constructor(
    private readonly stack: Stack,
    options: TcpEngineOptions,
  ) {
    this.hostPort = options.hostPort;
    this.addressMap = options.addressMap;
    this.timers = new TimerQueue(stack.clock);
    const clock = stack.clock;
    this.emitter = new SegmentEmitter(stack.link, () => clock.now());
    this.sender = new TcpSender({
      emitter: this.emitter,
      tso: stack.link.offloads.tso,
      now: () => clock.now(),
      receiveWindowField: (flow) => this.receiver.windowField(flow),
      reschedule: (flow, now) => this.reschedule(flow, now),
      abort: (flow, reason) => this.transition(flow, FlowEvent.PeerTimeout, reason),
      finAcked: (flow) => this.transition(flow, FlowEvent.FinAcked),
    });
  }

  /** Open flows (for stats). */
  get size(): number {
    return this.flows.size;
  }

  /** Every flow's whole state (the `debug_flows` API request; allocates, never on the data path). */
  debugFlows(): FlowDebug[] {
    const now = this.stack.clock.now();
    const out: FlowDebug[] = [];
    for (const flow of this.flows.values()) out.push(describeFlow(flow, now, this.receiver.receiveRoom(flow), (address) => this.stack.addresses.format(address)));
    return out;
  }

  // ---- guest → engine ----

  receiveIp(ip: IpDatagram, frameFlags: number): DropReason {
    const seg = this.segment;
    const reason = seg.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength);
    if (reason !== DropReason.None) return reason;
    if ((frameFlags & (FRAME_CHECKSUM_PARTIAL | FRAME_CHECKSUM_VALID)) === 0 && !seg.verifyChecksum(ip.pseudoHeaderSum(IpProtocol.Tcp, seg.length))) {
      return DropReason.BadChecksum;
    }
    const optionsReason = parseTcpOptions(seg, this.options);
    if (optionsReason !== DropReason.None) return optionsReason;
    try {
      return this.receiveSegment(ip, seg);
    } catch (error) {
      // The flow this segment belongs to (maybe just made for it) is in an unknown state: reset it.
      const flow = this.lookup(ip.source, seg.sourcePort, ip.destination, seg.destinationPort);
      if (flow !== undefined) this.contain(flow, 'tcp guest segment', error);
      else this.stack.faults.report('tcp guest segment', error, 'segment dropped');
      return DropReason.InternalError;
    }
  }

  private receiveSegment(ip: IpDatagram, seg: TcpSegment): DropReason {
    const flow = this.lookup(ip.source, seg.sourcePort, ip.destination, seg.destinationPort);
    const flags = seg.flags;
    if (flow === undefined || flow.closed) {
      return this.receiveWithoutFlow(ip, seg, flags);
    }
    if (flow.state === FlowState.TimeWait && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      this.transition(flow, FlowEvent.TupleReused); // a new connection reusing the tuple
      return this.receiveWithoutFlow(ip, seg, flags);
    }
    this.receiveForFlow(flow, seg, flags);
    return DropReason.None;
  }

  afterBatch(): void {
    // Guest bytes gathered this batch go to the host sockets first: the ACKs below then advertise
    // the room left after them.
    this.receiver.flushAll(this.onFlowFault);
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    this.dirty = this.dirtySpare;
    this.dirtySpare = dirty;
    for (const flow of dirty) {
      flow.dirty = false;
      if (!flow.ackPending || flow.closed) continue;
      try {
        this.sendAck(flow);
      } catch (error) {
        this.contain(flow, 'tcp ack', error);
      }
    }
    // Emptied by pop: `length = 0` drops the backing store (a runtime call) and the next push grows it again.
    while (dirty.length > 0) dirty.pop();
  }

  // ---- engine → guest (published ports) ----

  /**
   * Opens a flow into the guest from tuple.remote* (any address, e.g. a published port's client)
   * to tuple.guest*. The host side is attached through hostStream once the flow exists; it is
   * resumed when the guest answers, and destroyed if the guest refuses or never answers.
   * Returns false (host stream never created) when the tuple is busy or the table is full.
   */
  openToGuest(tuple: FlowTuple, hostStream: HostStreamFactory): boolean {
    try {
      return this.openFlowToGuest(tuple, hostStream);
    } catch (error) {
      const flow = this.lookup(tuple.guestAddress, tuple.guestPort, tuple.remoteAddress, tuple.remotePort);
      if (flow !== undefined) this.contain(flow, 'tcp open to guest', error);
      else this.stack.faults.report('tcp open to guest', error, 'connection refused');
      return false;
    }
  }

  private openFlowToGuest(tuple: FlowTuple, hostStream: HostStreamFactory): boolean {
    const previous = this.lookup(tuple.guestAddress, tuple.guestPort, tuple.remoteAddress, tuple.remotePort);
    if (previous !== undefined) {
      // A connection that is over gives way to a new one on its tuple, as a kernel reuses a
      // TIME-WAIT port for a new connect: a busy client's ports come round again within our 2 s
      // TIME-WAIT (every few thousand connections), and refusing reset those clients.
      if (previous.state !== FlowState.TimeWait) return false;
      this.transition(previous, FlowEvent.TupleReused);
    }
    // Both ends of one family (a published port maps an IPv6 client to an IPv6 guest address).
    if (isIpv6Handle(tuple.guestAddress) !== isIpv6Handle(tuple.remoteAddress)) return false;
    if (this.flows.size >= this.stack.config.limits.tcpFlows && !this.evictEmbryonic()) {
      this.stack.countDrop(DropReason.TableFull);
      return false;
    }
    const flow = this.insert(tuple.guestAddress, tuple.guestPort, tuple.remoteAddress, tuple.remotePort);
    this.transition(flow, FlowEvent.OpenToGuest);
    // The ISS first: the host stream may deliver bytes as soon as it exists, queued from iss + 1.
    // On a reused tuple it lies beyond the old connection's sequence space, so a guest still
    // holding that connection (in TIME-WAIT itself) takes the SYN as a new one (RFC 6191).
    const iss = previous === undefined ? this.stack.random.uint32() : seqAdd(previous.sendMax, ISS_REUSE_GAP);
    flow.sendQueue.reset(seqAdd(iss, 1));
    flow.sendNext = iss;
    flow.host = hostStream(this.hostEvents(flow));
    flow.host.pause();
    // Offer everything; the guest's SYN-ACK decides.
    flow.receiveWindowShift = OUR_WINDOW_SCALE;
    flow.sackPermitted = true;
    flow.timestamps = true;
    flow.sendMss = flow.output.tcpMss;
    this.sendSyn(flow);
    flow.lifeAt = this.stack.clock.now() + HOST_CONNECT_TIMEOUT_MS;
    this.reschedule(flow);
    return true;
  }

  close(): void {
    for (const flow of this.flows.values()) {
      this.transition(flow, FlowEvent.Shutdown);
      this.stack.addresses.release(flow.guestAddress);
      this.stack.addresses.release(flow.remoteAddress);
    }
    this.flows.clear();
    this.embryonic.clear();
    this.timers.close();
  }

  // ---- segments ----

  private receiveWithoutFlow(ip: IpDatagram, seg: TcpSegment, flags: number): DropReason {
    if (flags & TCP_RST) return DropReason.NoFlow;
    if ((flags & (TCP_SYN | TCP_ACK | TCP_FIN)) === TCP_SYN) return this.acceptGuestSyn(ip, seg);
    // RFC 9293 §3.10.7.1: anything else for a connection that does not exist gets a reset.
    this.resetFor(ip, seg, flags);
    return DropReason.NoFlow;
  }

  private acceptGuestSyn(ip: IpDatagram, seg: TcpSegment): DropReason {
    const endpoint = this.addressMap.toHost(ip.destination, seg.destinationPort);
    if (endpoint === undefined) {
      const refusal = this.addressMap.refusal(ip.destination);
      // libslirp's answers: EPERM (blocked loopback) → ICMP net unreachable from the gateway, so the
      // guest's connect fails with ENETUNREACH; --disable-dns → nothing, the connect times out.
      if (refusal === Refusal.LoopbackBlocked) this.stack.icmpErrors.aboutDatagram(IcmpError.NetUnreachable, this.stack.gatewayFor(ip.source), ip);
      else if (refusal !== Refusal.DnsDisabled) this.resetFor(ip, seg, seg.flags);
      return DropReason.Blocked;
    }
    const full = this.flows.size >= this.stack.config.limits.tcpFlows;
    if (full && this.embryonic.size === 0) {
      this.resetFor(ip, seg, seg.flags);
      return DropReason.TableFull;
    }
    // The host connect first: one refused inside the call (a closed loopback port) is answered
    // without a flow, so a storm of SYNs to closed ports allocates no flow object graph (that
    // outlived the batch and young-generation GCs, and grew V8's old space) and evicts nobody.
    const events = new FlowHostEvents(this.hostEventSink, this.stack.transmitter);
    const host = this.hostPort.connect(endpoint, events);
    const failed = host.failedInConnect;
    if (failed !== undefined) {
      if (failed === HostConnectError.Refused) this.resetFor(ip, seg, seg.flags);
      else this.stack.icmpErrors.aboutDatagram(IcmpError.HostUnreachable, ip.destination, ip);
      return DropReason.None;
    }
    if (full) this.evictEmbryonic();
    const flow = this.insert(ip.source, seg.sourcePort, ip.destination, seg.destinationPort);
    events.flow = flow;
    this.transition(flow, FlowEvent.GuestSyn);
    this.takeSynOptions(flow, seg.sequence);
    flow.host = host;
    if (host.connectedInConnect === true) {
      // Connected inside connect() (loopback): the SYN-ACK goes with this batch's flush, not with a
      // flush of its own after it (one TAP write less per connection); no onConnect follows (an
      // onConnect would be ignored: HostConnected means nothing once SYN-RECEIVED).
      this.hostConnected(flow);
    } else {
      // Keep the SYN's quote (IPv4: its header + 8 bytes) for an ICMP error, should the host be
      // unreachable (a host connected at once needs none: no copy per loopback connection).
      flow.synQuote = ip.bytes.slice(ip.quoteOffset, ip.quoteOffset + ip.quoteLength);
      flow.lifeAt = this.stack.clock.now() + HOST_CONNECT_TIMEOUT_MS;
      this.reschedule(flow);
    }
    return DropReason.None;
  }

  /** Options from a SYN or SYN-ACK of the guest: MSS, window scale, SACK, timestamps. */
  private takeSynOptions(flow: Flow, guestIsn: number): void {
    const o = this.options;
    flow.receiveNext = seqAdd(guestIsn, 1);
    flow.timestamps = o.hasTimestamp;
    flow.tsRecent = o.timestampValue;
    flow.sackPermitted = o.sackPermitted;
    if (o.windowScale >= 0) {
      flow.sendWindowShift = o.windowScale;
      flow.receiveWindowShift = OUR_WINDOW_SCALE;
    } else {
      flow.sendWindowShift = 0;
      flow.receiveWindowShift = 0;
    }
    const guestMss = o.mss > 0 ? o.mss : 536;
    flow.sendMss = Math.max(64, Math.min(guestMss, flow.output.tcpMss) - (flow.timestamps ? 12 : 0));
  }

  private receiveForFlow(flow: Flow, seg: TcpSegment, flags: number): void {
    switch (flow.state) {
      case FlowState.HostConnecting:
        if (flags & TCP_RST) this.transition(flow, FlowEvent.GuestRst); // the guest gave up; duplicate SYNs are ignored
        return;
      case FlowState.SynSent:
        this.receiveInSynSent(flow, seg, flags);
        return;
      case FlowState.SynReceived:
        if (flags & TCP_RST) {
          this.transition(flow, FlowEvent.GuestRst);
          return;
        }
        if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
          this.sendSyn(flow); // our SYN-ACK was lost
          return;
        }
        if (!(flags & TCP_ACK)) return;
        if (seg.acknowledgment !== flow.sendQueue.baseSeq) {
          this.resetFor(null, seg, flags, flow);
          return;
        }
        this.establish(flow, seg.window << flow.sendWindowShift);
        this.receiveEstablished(flow, seg, flags);
        return;
      case FlowState.Established:
      case FlowState.FinWait1:
      case FlowState.FinWait2:
      case FlowState.CloseWait:
      case FlowState.Closing:
      case FlowState.LastAck:
      case FlowState.TimeWait:
        this.receiveEstablished(flow, seg, flags);
        return;
      default:
        return;
    }
  }

  private receiveInSynSent(flow: Flow, seg: TcpSegment, flags: number): void {
    if ((flags & TCP_ACK) && seg.acknowledgment !== flow.sendQueue.baseSeq) {
      if (!(flags & TCP_RST)) this.resetFor(null, seg, flags, flow);
      return;
    }
    if (flags & TCP_RST) {
      if (flags & TCP_ACK) this.transition(flow, FlowEvent.GuestRst); // the guest refused: the host client sees the close
      return;
    }
    if ((flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK)) return;
    // Keep what we offered only where the guest agreed.
    this.takeSynOptions(flow, seg.sequence);
    this.establish(flow, seg.window); // the window of a SYN-ACK is never scaled
    // Bytes (or an end) the host sent before the guest answered go out now, carrying the ACK.
    flow.ackPending = true;
    this.sender.transmit(flow);
    if (flow.ackPending) this.sendAck(flow);
  }

  /** The handshake is done: the sender starts with the guest's window (then FlowAction.Establish). */
  private establish(flow: Flow, guestWindow: number): void {
    this.sender.start(flow, flow.sendQueue.baseSeq, guestWindow);
    this.transition(flow, FlowEvent.HandshakeDone);
  }

  private receiveEstablished(flow: Flow, seg: TcpSegment, flags: number): void {
    if (flags & TCP_RST) {
      // RFC 5961 §3: only a reset at the exact next sequence number is trusted; others get a challenge ACK.
      if (seg.sequence === flow.receiveNext) {
        this.transition(flow, FlowEvent.GuestRst);
      } else {
        this.sendAck(flow);
      }
      return;
    }
    if (flags & TCP_SYN) {
      this.sendAck(flow); // a retransmitted SYN-ACK (our ACK was lost) or a stray SYN: challenge ACK
      return;
    }
    if (!(flags & TCP_ACK)) return;
    const o = this.options;
    // RFC 7323 §4.3: TS.Recent only moves forward. A copy the network delayed or duplicated carries
    // an older TSval; echoing it would make the guest measure the delay as round-trip time.
    if (flow.timestamps && o.hasTimestamp && seqGe(flow.receiveNext, seg.sequence) && seqGe(o.timestampValue, flow.tsRecent)) {
      flow.tsRecent = o.timestampValue;
    }
    const payloadLength = seg.payloadLength;
    const fin = (flags & TCP_FIN) !== 0;
    const ackFields = this.ackFields;
    ackFields.ack = seg.acknowledgment;
    ackFields.window = seg.window << flow.sendWindowShift;
    ackFields.seq = seg.sequence;
    ackFields.tsEcho = o.hasTimestamp ? o.timestampEcho : 0;
    ackFields.hasPayloadOrFin = payloadLength > 0 || fin;
    ackFields.sackBlocks = o.sackBlocks;
    ackFields.sackCount = o.sackBlockCount;
    this.sender.onAck(flow, ackFields);
    if (flow.closed) return; // the sender gave up
    this.resumeHostIfRoom(flow);
    if (payloadLength > 0 || fin) {
      const result = this.receiver.receive(flow, seg.sequence, seg.bytes, seg.payloadOffset, payloadLength, fin);
      if (result === ReceiveResult.InOrder) {
        this.markAckPending(flow);
      } else if (result === ReceiveResult.FinTaken && payloadLength === 0 && !flow.hostEnded) {
        this.delayFinAck(flow);
      } else {
        this.sendAck(flow);
      }
      if (result === ReceiveResult.FinTaken) this.transition(flow, FlowEvent.GuestFin);
    } else if (seqLt(seg.sequence, flow.receiveNext)) {
      // RFC 9293 §3.10.7.4: an unacceptable segment is answered with an ACK. This one is the
      // guest's zero-window probe or keep-alive (SEG.SEQ = RCV.NXT - 1): unanswered, a lost window
      // update left the guest probing a window it believed closed, for good (issue 17).
      this.sendAck(flow);
    }
    if (isHalfClosed(flow.state)) this.touchHalfClosed(flow);
  }

  /** Sends an ACK now (piggybacked state: our next sequence number, window, SACK blocks, timestamps). */
  private sendAck(flow: Flow): void {
    const seq = flow.finSent && !seqLt(flow.sendNext, seqAdd(flow.sendQueue.endSeq, 1)) ? seqAdd(flow.sendQueue.endSeq, 1) : flow.sendNext;
    this.emitter.send(flow, seq, TCP_ACK, null, this.receiver.windowField(flow));
    flow.ackPending = false;
  }

  private sendSyn(flow: Flow): void {
    const iss = seqAdd(flow.sendQueue.baseSeq, -1);
    const flags = flow.state === FlowState.SynSent ? TCP_SYN : TCP_SYN | TCP_ACK;
    // A SYN's window is never scaled (RFC 7323 §2.2). Recorded as advertised: the guest may send
    // that much before our first ACK, and the receiver accepts up to it.
    const window = Math.min(0xffff, this.receiver.receiveRoom(flow));
    flow.advertisedWindow = window;
    this.emitter.send(flow, iss, flags, null, window);
    flow.rtoAt = this.stack.clock.now() + INITIAL_RTO_MS * 2 ** flow.synRetries;
    this.reschedule(flow);
  }

  /**
   * The guest's FIN alone (no bytes with it: bytes, and a FIN that was waiting for them, are
   * acknowledged at once), the host still open: the ACK is owed (ackPending, which every segment of ours
   * clears) and goes alone only at FIN_ACK_DELAY_MS, so that our FIN, due once the host socket ends
   * on the shutdown this FIN causes, carries it.
   */
  private delayFinAck(flow: Flow): void {
    flow.ackPending = true;
    flow.finAckAt = this.stack.clock.now() + FIN_ACK_DELAY_MS;
    this.reschedule(flow);
  }

  private markAckPending(flow: Flow): void {
    flow.ackPending = true;
    if (!flow.dirty) {
      flow.dirty = true;
      this.dirty.push(flow);
    }
  }

  /** RST for a segment that has no (acceptable) connection (RFC 9293 §3.10.7.1). */
  private resetFor(ip: IpDatagram | null, seg: TcpSegment, flags: number, flow?: Flow): void {
    const guest = flow ? flow.guestAddress : ip!.source;
    const remote = flow ? flow.remoteAddress : ip!.destination;
    const output = flow ? flow.output : this.stack.outputFor(guest);
    if (flags & TCP_ACK) {
      this.emitter.sendReset(output, remote, seg.destinationPort, guest, seg.sourcePort, seg.acknowledgment, 0, TCP_RST);
    } else {
      const length = seg.payloadLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
      this.emitter.sendReset(output, remote, seg.destinationPort, guest, seg.sourcePort, 0, seqAdd(seg.sequence, length), TCP_RST | TCP_ACK);
    }
  }

  // ---- host side ----

  /** The flow's host socket events: one small object per flow (FlowHostEvents), no closures of its own. */
  private hostEvents(flow: Flow): HostStreamEvents {
    const events = new FlowHostEvents(this.hostEventSink, this.stack.transmitter);
    events.flow = flow;
    return events;
  }

  /** The engine's handlers of host socket events, made once (FlowHostEvents binds them to a flow). */
  private readonly hostEventSink: HostEventSink = {
    connected: (flow) => this.hostConnected(flow),
    data: (flow, chunk) => this.hostData(flow, chunk),
    ended: (flow) => this.hostEnded(flow),
    failed: (flow, error) => this.hostFailed(flow, error),
    drained: (flow) => this.hostDrained(flow),
    closed: (flow) => this.hostClosed(flow),
    contain: (flow, error) => this.contain(flow, 'tcp host event', error),
  };

  private hostConnected(flow: Flow): void {
    if (!this.transition(flow, FlowEvent.HostConnected)) return;
    const iss = this.stack.random.uint32();
    flow.sendQueue.reset(seqAdd(iss, 1));
    flow.host?.pause(); // until the guest completes the handshake
    flow.lifeAt = -1;
    this.sendSyn(flow);
  }

  private hostData(flow: Flow, chunk: Uint8Array): void {
    if (flow.closed) return;
    flow.sendQueue.push(chunk);
    if (!flow.hostPaused && flow.sendQueue.length > SEND_BUFFER) {
      flow.hostPaused = true;
      flow.host?.pause();
    }
    if (isSynchronized(flow.state)) {
      this.sender.transmit(flow);
    }
  }

  private hostEnded(flow: Flow): void {
    this.transition(flow, FlowEvent.HostEnd);
  }

  private hostFailed(flow: Flow, error: HostConnectError): void {
    this.transition(flow, error === HostConnectError.Refused ? FlowEvent.HostRefused : FlowEvent.HostError);
  }

  private hostDrained(flow: Flow): void {
    if (!isSynchronized(flow.state)) return;
    // The host took what we queued: offer the guest the room again if it grew noticeably.
    const room = this.receiver.receiveRoom(flow);
    if (room - flow.advertisedWindow >= Math.max(2 * flow.sendMss, 64 * 1024) || flow.advertisedWindow === 0) {
      this.sendAck(flow);
    }
  }

  private hostClosed(flow: Flow): void {
    this.transition(flow, FlowEvent.HostClosed);
  }

  private resumeHostIfRoom(flow: Flow): void {
    if (flow.hostPaused && flow.sendQueue.length < SEND_BUFFER / 2) {
      flow.hostPaused = false;
      flow.host?.resume();
    }
  }

  private sendHostUnreachable(flow: Flow): void {
    const quote = flow.synQuote;
    if (!quote) return;
    this.stack.icmpErrors.send(IcmpError.HostUnreachable, flow.remoteAddress, flow.guestAddress, quote, 0, quote.length);
  }

  // ---- lifecycle ----

  /**
   * The one place a flow changes state: looks (state, event) up in the table (flow-state.ts) and
   * performs the transition's actions in their fixed order. False when the state ignores the event.
   * reason: for the debug log of a flow given up (default: the event's).
   */
  private transition(flow: Flow, event: FlowEvent, reason?: string): boolean {
    const entry = transitionOf(flow.state, event, flow.closeQueued);
    if (entry === IGNORED) return false;
    const next = nextStateOf(entry);
    const actions = actionsOf(entry);
    const wasEmbryonic = isEmbryonic(flow.state);
    flow.state = next;
    // The eviction order: a flow joins it on opening and on entering TIME-WAIT, leaves it once established or closed.
    if (isEmbryonic(next) !== wasEmbryonic) {
      if (wasEmbryonic) this.embryonic.delete(flow);
      else this.embryonic.add(flow);
    }
    if (actions === 0) return true;
    if (actions & FlowAction.RefuseSyn) {
      this.emitter.sendReset(flow.output, flow.remoteAddress, flow.remotePort, flow.guestAddress, flow.guestPort, 0, flow.receiveNext, TCP_RST | TCP_ACK);
    }
    if (actions & FlowAction.Unreachable) this.sendHostUnreachable(flow);
    if (actions & FlowAction.SendReset) {
      this.emitter.sendReset(flow.output, flow.remoteAddress, flow.remotePort, flow.guestAddress, flow.guestPort, flow.sendNext, flow.receiveNext, TCP_RST | TCP_ACK);
    }
    if ((actions & FlowAction.LogAbort) !== 0 && this.stack.logger.isLevelEnabled('debug')) {
      this.stack.logger.debug({ guestPort: flow.guestPort, remotePort: flow.remotePort, reason: reason ?? ABORT_REASONS[event] }, 'tcp flow aborted');
    }
    if (actions & FlowAction.ResetHost) flow.host?.reset();
    else if (actions & FlowAction.DestroyHost) flow.host?.destroy();
    if (actions & (FlowAction.ResetHost | FlowAction.DetachHost | FlowAction.DestroyHost)) flow.host = null;
    if (actions & FlowAction.Release) this.release(flow);
    if (actions & FlowAction.Establish) {
      flow.synQuote = null;
      flow.rtoAt = -1;
      flow.lifeAt = -1;
      flow.rtt.restart();
      this.reschedule(flow);
      flow.host?.resume();
    }
    if (actions & FlowAction.EnterTimeWait) {
      flow.rtoAt = -1;
      flow.lifeAt = this.stack.clock.now() + TIME_WAIT_MS;
      flow.host?.destroy();
      flow.host = null;
      this.reschedule(flow);
    }
    if (actions & FlowAction.QueueClose) flow.closeQueued = true;
    if (actions & FlowAction.Transmit) this.sender.transmit(flow);
    if (actions & FlowAction.TouchIdle) this.touchHalfClosed(flow);
    return true;
  }

  private touchHalfClosed(flow: Flow): void {
    if (!isSynchronized(flow.state)) return;
    flow.lifeAt = this.stack.clock.now() + HALF_CLOSED_IDLE_MS;
    this.reschedule(flow);
  }

  /**
   * A bug hit this flow: report it, then reset the flow (RST to the guest, host socket destroyed).
   * If even that throws, the flow is taken out of the table by hand so it cannot fail again.
   */
  private contain(flow: Flow, where: string, error: unknown): void {
    this.stack.faults.report(where, error, 'flow reset');
    try {
      this.transition(flow, FlowEvent.Fault);
    } catch {
      // Reported above already.
    }
    this.forget(flow);
  }

  /**
   * Takes a flow out of the table and drops its host socket without its transition's actions (they
   * may be what threw). The Fault transition has made it Closed already: its first step is the state.
   */
  private forget(flow: Flow): void {
    const host = flow.host;
    flow.host = null;
    try {
      host?.destroy();
    } catch {
      // A socket that cannot even be destroyed is Node's to collect.
    }
    this.receiver.discard(flow);
    this.timers.remove(flow);
    this.embryonic.delete(flow);
    this.unlink(flow);
  }

  private handleTimer(flow: Flow, now: number): void {
    if (flow.closed) return;
    if (flow.lifeAt >= 0 && now >= flow.lifeAt) {
      flow.lifeAt = -1;
      this.transition(flow, FlowEvent.LifeExpired);
      return;
    }
    if (flow.finAckAt >= 0 && now >= flow.finAckAt) {
      flow.finAckAt = -1;
      if (flow.ackPending) this.sendAck(flow); // nothing of ours carried it meanwhile
    }
    if (flow.rtoAt >= 0 && now >= flow.rtoAt) {
      flow.rtoAt = -1;
      if (flow.state === FlowState.SynReceived || flow.state === FlowState.SynSent) {
        if (++flow.synRetries > HANDSHAKE_RETRIES) this.transition(flow, FlowEvent.HandshakeTimeout);
        else this.sendSyn(flow);
      } else if (isSynchronized(flow.state)) {
        this.sender.onRetransmitTimeout(flow);
      }
    }
    if (!flow.closed) this.reschedule(flow);
  }

  /** now: the caller's fresh clock reading, if it has one (the timer queue then reads none). */
  private reschedule(flow: Flow, now?: number): void {
    let deadline = flow.rtoAt;
    if (flow.lifeAt >= 0 && (deadline < 0 || flow.lifeAt < deadline)) deadline = flow.lifeAt;
    if (flow.finAckAt >= 0 && (deadline < 0 || flow.finAckAt < deadline)) deadline = flow.finAckAt;
    if (deadline < 0) this.timers.cancel(flow);
    else if (deadline !== flow.timerDeadline) this.timers.schedule(flow, deadline, now);
  }

  // ---- flow table (flow-table.ts: numeric keys for both families) ----

  private lookup(guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): Flow | undefined {
    return this.flows.get(guestAddress, guestPort, remoteAddress, remotePort);
  }

  private insert(guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): Flow {
    const flow = new Flow(guestAddress, guestPort, remoteAddress, remotePort, this.stack.outputFor(guestAddress), this.onFlowTimer);
    this.flows.add(flow);
    // A flow holds its IPv6 addresses (handles) while it is in the table.
    this.stack.addresses.retain(guestAddress);
    this.stack.addresses.retain(remoteAddress);
    return flow;
  }

  /**
   * Makes room in a full table (the eviction rule in the head comment): gives up the oldest flow
   * that is not established. A guest still waiting for its SYN to be answered hears nothing (it
   * retransmits the SYN and gets a fresh try); one we answered gets a reset. False when every flow
   * is established.
   */
  private evictEmbryonic(): boolean {
    const oldest = this.embryonic.oldest();
    if (oldest === undefined) return false;
    this.transition(oldest, FlowEvent.Evicted);
    return true;
  }

  /** Takes the flow out of the table (if it is still the one there). */
  private unlink(flow: Flow): void {
    if (!this.flows.delete(flow)) return;
    this.stack.addresses.release(flow.guestAddress);
    this.stack.addresses.release(flow.remoteAddress);
  }

  /** FlowAction.Release: the flow's end (its state is Closed already). */
  private release(flow: Flow): void {
    this.timers.remove(flow);
    flow.host?.destroy();
    flow.host = null;
    flow.sendQueue.reset(0);
    flow.reorder.clear();
    this.receiver.discard(flow);
    this.unlink(flow);
  }
}

/** What a flow's host socket events do in the engine, given the flow. */
interface HostEventSink {
  connected(flow: Flow): void;
  data(flow: Flow, chunk: Uint8Array): void;
  ended(flow: Flow): void;
  failed(flow: Flow, error: HostConnectError): void;
  drained(flow: Flow): void;
  closed(flow: Flow): void;
  /** An event's handler threw: reset this flow only (it runs on the event loop, where it would otherwise end the process). */
  contain(flow: Flow, error: unknown): void;
}

/**
 * One flow's host socket events, each contained (HostEventSink.contain). A class rather than an
 * object of six closures: a short connection allocates one object here instead of eight.
 */
class FlowHostEvents implements HostStreamEvents {
  /** Set once the flow exists, right after the connect call (no event comes before the caller's turn ends). */
  flow!: Flow;

  constructor(
    private readonly sink: HostEventSink,
    readonly wakeup: HostEventWakeup,
  ) {}

  onConnect(): void {
    try {
      this.sink.connected(this.flow);
    } catch (error) {
      this.sink.contain(this.flow, error);
    }
  }

  onData(chunk: Uint8Array): void {
    try {
      this.sink.data(this.flow, chunk);
    } catch (error) {
      this.sink.contain(this.flow, error);
    }
  }

  onEnd(): void {
    try {
      this.sink.ended(this.flow);
    } catch (error) {
      this.sink.contain(this.flow, error);
    }
  }

  onError(error: HostConnectError): void {
    try {
      this.sink.failed(this.flow, error);
    } catch (thrown) {
      this.sink.contain(this.flow, thrown);
    }
  }

  onDrain(): void {
    try {
      this.sink.drained(this.flow);
    } catch (error) {
      this.sink.contain(this.flow, error);
    }
  }

  onClose(): void {
    try {
      this.sink.closed(this.flow);
    } catch (error) {
      this.sink.contain(this.flow, error);
    }
  }
}

/** Installs the TCP engine on a stack (protocol 6, per-batch ACKs, cleanup on close). */
export function installTcp(stack: Stack, options: TcpEngineOptions): TcpEngine {
  const engine = new TcpEngine(stack, options);
  stack.setIpReceiver(IpProtocol.Tcp, engine);
  stack.addBatchObserver(engine);
  stack.onClose(() => engine.close());
  return engine;
}
