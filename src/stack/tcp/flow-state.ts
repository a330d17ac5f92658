/**
 * The TCP flow's state machine as one table: (state, event) → (next state, lifecycle actions), in the
 * manner of smoltcp's `match (state, control)`. The engine's `transition` (tcp-engine.ts) is the one
 * place that looks it up and performs the actions; no other code assigns a flow's state. Pure data
 * and lookups: this module sends nothing and touches no flow.
 *
 * States are RFC 9293's, with two of our own for the guest's active open (we connect the host socket
 * before answering the SYN: HostConnecting) and one deviation: CLOSING ends in TIME-WAIT as
 * FIN-WAIT-2 does, but that TIME-WAIT is short (a linger that re-acknowledges a retransmitted FIN).
 * LAST-ACK ends in CLOSED, as RFC 9293 says: the guest acknowledged our FIN, whose segment
 * acknowledged its own, so no FIN of its can come again. "The host ended" is our CLOSE call (the host socket's EOF); during a handshake it is
 * queued (RFC 9293 §3.10.4, CLOSE in SYN-RECEIVED) and taken on entering ESTABLISHED.
 *
 * What the table does not hold: the handshake's segments (SYN, SYN-ACK, options, ISS) and steady
 * state (sender.ts, receiver.ts) are the callers'; they raise the event and do their part around it.
 * Events a state does not expect are ignored (IGNORED), never thrown.
 */

export enum FlowState {
  /** No connection: a new flow before its first event, and every flow at its end. */
  Closed,
  /** Guest sent SYN; we are connecting the host socket and have not answered yet. */
  HostConnecting,
  /** We sent SYN to the guest (published port) and wait for its SYN-ACK. */
  SynSent,
  /** We sent SYN-ACK (guest opened) and wait for the guest's ACK. */
  SynReceived,
  Established,
  /** The host ended: our FIN follows the queued data; the guest still sends. */
  FinWait1,
  /** Our FIN is acknowledged; the guest still sends. */
  FinWait2,
  /** The guest's FIN is taken; the host still sends. */
  CloseWait,
  /** Both FINs crossed (the guest's arrived in FIN-WAIT-1); ours is not acknowledged yet. */
  Closing,
  /** The host ended after the guest; our FIN is not acknowledged yet. */
  LastAck,
  /** Both directions finished; lingering briefly to re-acknowledge a retransmitted FIN. */
  TimeWait,
}

export enum FlowEvent {
  /** A guest SYN made this flow: the host socket is being connected. */
  GuestSyn,
  /** A published port's client: our SYN goes to the guest. */
  OpenToGuest,
  /** The host socket connected: our SYN-ACK goes out. */
  HostConnected,
  /** The guest acknowledged our SYN-ACK, or answered our SYN with its SYN-ACK. */
  HandshakeDone,
  /** The host socket ended its side (EOF): our CLOSE. */
  HostEnd,
  /** The guest's FIN was taken in order. */
  GuestFin,
  /** The guest acknowledged our FIN. */
  FinAcked,
  /** An acceptable RST from the guest. */
  GuestRst,
  /** A new SYN on the tuple of a flow in TIME-WAIT. */
  TupleReused,
  /** The host connect was refused. */
  HostRefused,
  /** The host socket failed (unreachable on connect, or an error later). */
  HostError,
  /** The host socket closed. */
  HostClosed,
  /** The life deadline passed: host connect timeout, end of TIME-WAIT, half-closed idle. */
  LifeExpired,
  /** SYN or SYN-ACK retransmissions exhausted. */
  HandshakeTimeout,
  /** The sender gave up: the guest answered nothing for PEER_TIMEOUT_MS. */
  PeerTimeout,
  /** A full table gives up this flow (not established) for a newcomer. */
  Evicted,
  /** A bug of ours hit the flow: reset it. */
  Fault,
  /** The engine closes: every flow ends, nothing is sent. */
  Shutdown,
}

/** Lifecycle actions of a transition (bit flags), performed in this order by the engine. */
export enum FlowAction {
  /** RST|ACK to the guest acknowledging its SYN (it has sent only that: a refusal). */
  RefuseSyn = 1 << 0,
  /** ICMP host unreachable to the guest, quoting its SYN. */
  Unreachable = 1 << 1,
  /** RST|ACK to the guest at our next sequence number (it was answered: it must hear the end). */
  SendReset = 1 << 2,
  /** Debug log "tcp flow aborted" with the reason. */
  LogAbort = 1 << 3,
  /** Reset the host socket (the host peer sees a reset). */
  ResetHost = 1 << 4,
  /** The host socket is gone already (error, close): drop it without touching it. */
  DetachHost = 1 << 5,
  /** Destroy the host socket. */
  DestroyHost = 1 << 6,
  /** The flow's end: timers cancelled, host socket destroyed, queues emptied, out of the table. */
  Release = 1 << 7,
  /** Handshake done: handshake timers off, RTO restarts, the host socket resumes. */
  Establish = 1 << 8,
  /** Linger TIME_WAIT_MS; the host socket is destroyed (both directions are done). */
  EnterTimeWait = 1 << 9,
  /** The host ended during the handshake: remember it (the FIN goes once established). */
  QueueClose = 1 << 10,
  /** Let the sender send (our FIN may be due). */
  Transmit = 1 << 11,
  /** The half-closed idle deadline starts again from now. */
  TouchIdle = 1 << 12,
}

/** The table's answer for an event the state does not expect. */
export const IGNORED = -1;

const STATE_COUNT = FlowState.TimeWait + 1;
const EVENT_COUNT = FlowEvent.Shutdown + 1;
const ACTION_SHIFT = 8;

const HANDSHAKE = [FlowState.HostConnecting, FlowState.SynSent, FlowState.SynReceived] as const;
/** RFC 9293's synchronized states before TIME-WAIT: data may flow in at least one direction. */
const SYNCHRONIZED = [
  FlowState.Established,
  FlowState.FinWait1,
  FlowState.FinWait2,
  FlowState.CloseWait,
  FlowState.Closing,
  FlowState.LastAck,
] as const;
/** Giving up a flow the guest was answered on: it hears a reset. */
const ABORT = FlowAction.SendReset | FlowAction.LogAbort | FlowAction.ResetHost | FlowAction.Release;
/** Giving up a flow the guest has no answer from yet (or that is over for it): no reset. */
const ABORT_QUIETLY = FlowAction.LogAbort | FlowAction.ResetHost | FlowAction.Release;

const table = new Int32Array(STATE_COUNT * EVENT_COUNT).fill(IGNORED);

function rule(from: readonly FlowState[], event: FlowEvent, to: FlowState | 'same', actions = 0): void {
  for (const state of from) {
    const next = to === 'same' ? state : to;
    const at = state * EVENT_COUNT + event;
    if (table[at] !== IGNORED) throw new Error(`flow-state: two rules for ${FlowState[state]} × ${FlowEvent[event]}`);
    table[at] = next | (actions << ACTION_SHIFT);
  }
}

// Opening.
rule([FlowState.Closed], FlowEvent.GuestSyn, FlowState.HostConnecting);
rule([FlowState.Closed], FlowEvent.OpenToGuest, FlowState.SynSent);
rule([FlowState.HostConnecting], FlowEvent.HostConnected, FlowState.SynReceived);
rule([FlowState.SynSent, FlowState.SynReceived], FlowEvent.HandshakeDone, FlowState.Established, FlowAction.Establish);

// Orderly close: the host's end (our FIN), the guest's FIN, the ACK of ours.
rule(HANDSHAKE, FlowEvent.HostEnd, 'same', FlowAction.QueueClose);
rule([FlowState.Established], FlowEvent.HostEnd, FlowState.FinWait1, FlowAction.Transmit | FlowAction.TouchIdle);
rule([FlowState.CloseWait], FlowEvent.HostEnd, FlowState.LastAck, FlowAction.Transmit | FlowAction.TouchIdle);
rule([FlowState.Established], FlowEvent.GuestFin, FlowState.CloseWait);
rule([FlowState.FinWait1], FlowEvent.GuestFin, FlowState.Closing);
rule([FlowState.FinWait2], FlowEvent.GuestFin, FlowState.TimeWait, FlowAction.EnterTimeWait);
rule([FlowState.FinWait1], FlowEvent.FinAcked, FlowState.FinWait2);
rule([FlowState.Closing], FlowEvent.FinAcked, FlowState.TimeWait, FlowAction.EnterTimeWait);
// RFC 9293 §3.10.7.4: LAST-ACK ends at the ACK of our FIN (the guest, which closed first, keeps the
// TIME-WAIT). Lingering here too held every guest-closed connection 2 s in the table, the timer heap
// and the old generation: ~10k flows at a few thousand connections per second.
rule([FlowState.LastAck], FlowEvent.FinAcked, FlowState.Closed, FlowAction.Release);
rule([FlowState.TimeWait], FlowEvent.LifeExpired, FlowState.Closed, FlowAction.Release);
rule([FlowState.TimeWait], FlowEvent.TupleReused, FlowState.Closed, FlowAction.Release);

// Resets from the guest.
rule(HANDSHAKE, FlowEvent.GuestRst, FlowState.Closed, FlowAction.Release);
rule([...SYNCHRONIZED, FlowState.TimeWait], FlowEvent.GuestRst, FlowState.Closed, FlowAction.ResetHost | FlowAction.Release);

// The host socket fails or closes.
rule([FlowState.HostConnecting], FlowEvent.HostRefused, FlowState.Closed, FlowAction.RefuseSyn | FlowAction.DetachHost | FlowAction.Release);
rule([FlowState.HostConnecting], FlowEvent.HostError, FlowState.Closed, FlowAction.Unreachable | FlowAction.DetachHost | FlowAction.Release);
for (const event of [FlowEvent.HostRefused, FlowEvent.HostError]) {
  rule([FlowState.SynSent], event, FlowState.Closed, FlowAction.DetachHost | FlowAction.Release);
  rule([FlowState.SynReceived, ...SYNCHRONIZED], event, FlowState.Closed, FlowAction.SendReset | FlowAction.LogAbort | FlowAction.DetachHost | FlowAction.Release);
  rule([FlowState.TimeWait], event, FlowState.Closed, FlowAction.LogAbort | FlowAction.DetachHost | FlowAction.Release);
}
rule(HANDSHAKE, FlowEvent.HostClosed, FlowState.Closed, FlowAction.DetachHost | FlowAction.Release);
// Closed without an orderly end in both directions: the guest must know. (In CLOSING, LAST-ACK and
// TIME-WAIT the host has ended and the guest too: the close is the orderly one.)
rule(
  [FlowState.Established, FlowState.FinWait1, FlowState.FinWait2, FlowState.CloseWait],
  FlowEvent.HostClosed,
  FlowState.Closed,
  FlowAction.SendReset | FlowAction.LogAbort | FlowAction.DetachHost | FlowAction.Release,
);

// Timers.
rule(HANDSHAKE, FlowEvent.LifeExpired, FlowState.Closed, FlowAction.Release);
rule(SYNCHRONIZED, FlowEvent.LifeExpired, FlowState.Closed, ABORT);
rule([FlowState.SynReceived], FlowEvent.HandshakeTimeout, FlowState.Closed, ABORT);
rule([FlowState.SynSent], FlowEvent.HandshakeTimeout, FlowState.Closed, FlowAction.Release);
rule(SYNCHRONIZED, FlowEvent.PeerTimeout, FlowState.Closed, ABORT);

// The engine's own reasons.
rule([FlowState.HostConnecting, FlowState.SynSent, FlowState.TimeWait], FlowEvent.Evicted, FlowState.Closed, FlowAction.Release);
rule([FlowState.SynReceived], FlowEvent.Evicted, FlowState.Closed, ABORT);
rule([FlowState.HostConnecting], FlowEvent.Fault, FlowState.Closed, FlowAction.RefuseSyn | ABORT_QUIETLY);
rule([FlowState.SynReceived, ...SYNCHRONIZED], FlowEvent.Fault, FlowState.Closed, ABORT);
rule([FlowState.SynSent, FlowState.TimeWait], FlowEvent.Fault, FlowState.Closed, ABORT_QUIETLY);
rule([...HANDSHAKE, ...SYNCHRONIZED, FlowState.TimeWait], FlowEvent.Shutdown, FlowState.Closed, FlowAction.DestroyHost);

/**
 * The table's entry for event in state: IGNORED, or the next state and actions packed (nextStateOf,
 * actionsOf). closeQueued: the host ended during the handshake, so the handshake ends in FIN-WAIT-1.
 */
export function transitionOf(state: FlowState, event: FlowEvent, closeQueued: boolean): number {
  const entry = table[state * EVENT_COUNT + event];
  if (closeQueued && entry !== IGNORED && (entry & 0xff) === FlowState.Established && event === FlowEvent.HandshakeDone) {
    return FlowState.FinWait1 | (entry & ~0xff);
  }
  return entry;
}

export function nextStateOf(entry: number): FlowState {
  return entry & 0xff;
}

export function actionsOf(entry: number): number {
  return entry >> ACTION_SHIFT;
}

const maskOf = (states: readonly FlowState[]): number => states.reduce((mask, state) => mask | (1 << state), 0);
// The predicates below run per segment: one bit test each.
const SYNCHRONIZED_MASK = maskOf(SYNCHRONIZED);
const HALF_CLOSED_MASK = SYNCHRONIZED_MASK & ~maskOf([FlowState.Established]);
const HOST_ENDED_MASK = maskOf([FlowState.FinWait1, FlowState.FinWait2, FlowState.Closing, FlowState.LastAck, FlowState.TimeWait]);
const GUEST_ENDED_MASK = maskOf([FlowState.CloseWait, FlowState.Closing, FlowState.LastAck, FlowState.TimeWait]);
const FIN_ACKED_MASK = maskOf([FlowState.FinWait2, FlowState.TimeWait]);
const EMBRYONIC_MASK = maskOf([...HANDSHAKE, FlowState.TimeWait]);

/** Data may flow in at least one direction (ESTABLISHED through LAST-ACK): the sender and receiver work. */
export function isSynchronized(state: FlowState): boolean {
  return ((1 << state) & SYNCHRONIZED_MASK) !== 0;
}

/** One direction or both have ended, the flow is not yet in TIME-WAIT (the half-closed idle bound applies). */
export function isHalfClosed(state: FlowState): boolean {
  return ((1 << state) & HALF_CLOSED_MASK) !== 0;
}

/** The host has ended and the flow is past its handshake (our FIN is due, sent, or acknowledged). */
export function hasHostEnded(state: FlowState): boolean {
  return ((1 << state) & HOST_ENDED_MASK) !== 0;
}

/** The guest's FIN has been taken. */
export function hasGuestEnded(state: FlowState): boolean {
  return ((1 << state) & GUEST_ENDED_MASK) !== 0;
}

/** The guest has acknowledged our FIN. */
export function isFinAcked(state: FlowState): boolean {
  return ((1 << state) & FIN_ACKED_MASK) !== 0;
}

/** Not established (a handshake, or TIME-WAIT): what a full table gives up first. */
export function isEmbryonic(state: FlowState): boolean {
  return ((1 << state) & EMBRYONIC_MASK) !== 0;
}
