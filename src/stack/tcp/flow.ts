/**
 * One guest TCP connection and its host socket: the state every part of the engine shares.
 * Fields are plain numbers and flags (passt's lesson: compact, explicit state), grouped by the half
 * that owns them: the sender (bytes host → guest) and the receiver (bytes guest → host).
 *
 * The connection's state (flow-state.ts) is assigned only by the engine's transition(); the close
 * flags (host ended, our FIN acknowledged, guest FIN taken) are read off it, never stored.
 */
import type { IpOutput } from '../ip-output.js';
import { FlowState, hasGuestEnded, hasHostEnded, isFinAcked } from './flow-state.js';
import type { HostStream } from './host-tcp-port.js';
import { CongestionControl } from './congestion-control.js';
import type { ReceiveSlab } from './receiver.js';
import { ReorderQueue } from './reorder-queue.js';
import { RttEstimator } from './rtt-estimator.js';
import { SackScoreboard } from './sack-scoreboard.js';
import { SendQueue } from './send-queue.js';
import type { EvictionLinks } from './eviction-order.js';
import type { TimerEntry } from './timer-queue.js';

export { FlowState };

/** Receive buffer bound per flow: guest bytes queued to the host plus out-of-order bytes. */
export const RECEIVE_BUFFER = 4 * 1024 * 1024;
/** Our window scale: 65535 << 7 ≈ 8 MiB, above RECEIVE_BUFFER. */
export const OUR_WINDOW_SCALE = 7;
/**
 * Host bytes we hold (unacknowledged) before pausing the host socket. 2 MiB: with 4, a bulk flow to
 * the guest kept ~6 MiB of read slabs in flight, the largest part of tslirp's peak RSS (61.4 / 61.6
 * MiB with 2 against 64.1 / 66.9 with 4 over 100 MB each way at MTU 65520 / 1500 + offloads), for
 * no measurable throughput (host→guest x1.01 / x0.99, bench/tcp-iperf.ts A/B; loopback RTTs are µs).
 */
export const SEND_BUFFER = 2 * 1024 * 1024;

export interface FlowTuple {
  /** The guest's address and port. */
  guestAddress: number;
  guestPort: number;
  /** The other end as the guest sees it (a real address, the gateway, …). */
  remoteAddress: number;
  remotePort: number;
}

export class Flow implements TimerEntry, EvictionLinks<Flow>, FlowTuple {
  /** Written by TcpEngine.transition only: a new flow is Closed until its opening event. */
  state = FlowState.Closed;
  /** The host ended during the handshake: our FIN goes once established (flow-state.ts). */
  closeQueued = false;
  host: HostStream | null = null;

  // The engine's eviction order (eviction-order.ts): flows a full table may give up, oldest first.
  evictPrev: Flow | null = null;
  evictNext: Flow | null = null;
  inEvictionOrder = false;

  // Timer queue bookkeeping (one deadline at a time: the earliest of the timers below).
  timerDeadline = -1;
  timerIndex = 0;
  /** Retransmission (or SYN/SYN-ACK/persist) deadline, -1 when idle. */
  rtoAt = -1;
  /** Linger / idle / handshake-lifetime deadline, -1 when none. */
  lifeAt = -1;
  /** The owed ACK of the guest's FIN goes alone at this deadline unless a segment of ours carried it first; -1 when none. */
  finAckAt = -1;

  // Options agreed in the handshake.
  sendMss = 536;
  sendWindowShift = 0;
  receiveWindowShift = 0;
  sackPermitted = false;
  timestamps = false;
  /** Last timestamp value from the guest, echoed back (RFC 7323). */
  tsRecent = 0;

  // Sender: host → guest.
  readonly sendQueue = new SendQueue();
  /** Next new sequence number to send. */
  sendNext = 0;
  /** Highest sequence number sent so far (sendNext can move back on RTO). */
  sendMax = 0;
  /** The guest's receive window, scaled, as of the last ACK. */
  sendWindow = 0;
  /** SND.WL1 / SND.WL2 (RFC 9293 §3.10.7.4): sequence and ACK numbers of the segment that last set sendWindow. */
  windowSeq = 0;
  windowAck = 0;
  /** Congestion window, slow-start threshold, duplicate ACKs, recovery and hole-repair positions. */
  readonly congestion = new CongestionControl();
  /** SACK scoreboard: ranges the guest holds above sendUna. */
  readonly sacked = new SackScoreboard();
  retransmitCount = 0;
  /** rtoAt is armed as a tail loss probe (RFC 8985 §7), due before the RTO. */
  tailProbeArmed = false;
  /** A tail loss probe went out and nothing new was acknowledged or SACKed since: next comes the RTO. */
  tailProbeSent = false;
  /** Zero-window probes sent since the guest last sent an ACK (for debugging). */
  probesUnanswered = 0;
  /**
   * When we began waiting for an answer the guest has not given yet (data or FIN unacknowledged,
   * a closed window): -1 when not waiting. The flow is given up PEER_TIMEOUT_MS after it (sender.ts).
   */
  unansweredSince = -1;
  /** SRTT, RTTVAR and the RTO (with backoff). */
  readonly rtt = new RttEstimator();
  /** Our FIN is within [sendUna, sendNext): sent, and not rewound by an RTO since. */
  finSent = false;
  hostPaused = false;

  // Receiver: guest → host.
  receiveNext = 0;
  readonly reorder = new ReorderQueue(1024 * 1024);
  /** A FIN arrived beyond a hole: taken once receiveNext reaches guestFinSeq. */
  guestFinPending = false;
  guestFinSeq = 0;
  /** Window we last advertised (unscaled bytes), to decide when an update is worth sending. */
  advertisedWindow = 0;
  /** An ACK is owed (sent once per batch). */
  ackPending = false;
  /**
   * In-order guest bytes taken this batch, not yet written to the host socket: [rxStart, rxEnd) of
   * rxSlab (the receiver's shared slab). Written as one chunk at the end of the batch.
   */
  rxSlab: ReceiveSlab | null = null;
  rxStart = 0;
  rxEnd = 0;
  /** Queued in the engine's dirty list for this batch. */
  dirty = false;

  /** For an ICMP error if the host connect fails: the guest SYN's IP header + 8 bytes. */
  synQuote: Uint8Array | null = null;
  synRetries = 0;

  constructor(
    readonly guestAddress: number,
    readonly guestPort: number,
    readonly remoteAddress: number,
    readonly remotePort: number,
    /** The output of the flow's address family: where its segments go. */
    readonly output: IpOutput,
    private readonly timerCallback: (flow: Flow, now: number) => void,
  ) {}

  onTimer(now: number): void {
    this.timerCallback(this, now);
  }

  /** The host ended (EOF): our FIN is due once the queue is sent (queued during a handshake). */
  get hostEnded(): boolean {
    return this.closeQueued || hasHostEnded(this.state);
  }

  /** The guest acknowledged our FIN. */
  get finAcked(): boolean {
    return isFinAcked(this.state);
  }

  /** The guest's FIN was taken (in order). */
  get guestFinReceived(): boolean {
    return hasGuestEnded(this.state);
  }

  /** The flow is over (or not yet opened): every event source ignores it. */
  get closed(): boolean {
    return this.state === FlowState.Closed;
  }

  /** Bytes sent and not yet acknowledged. */
  get inFlight(): number {
    return (this.sendMax - this.sendQueue.baseSeq) >>> 0;
  }
}
