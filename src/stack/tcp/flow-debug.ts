/**
 * A flow's whole state as plain data, for a person (or the soak harness, bench/tcp-soak.ts) looking
 * at a flow that stopped making progress: sequence space, windows, congestion state, RTO and
 * backoff, the SACK scoreboard, the reorder queue, timers, and the host socket's side.
 *
 * Off the hot path by construction: only the `debug_flows` API request calls it, and it allocates
 * freely. Must never change the flow it describes.
 */
import { formatIpv4 } from '../../wire/ip-address.js';
import { Flow, FlowState } from './flow.js';

/** One flow, snake_case as the rest of the API; sequence numbers absolute (they match a capture). */
export interface FlowDebug {
  state: string;
  guest: string;
  remote: string;
  mss: number;
  sack_permitted: boolean;
  timestamps: boolean;
  /** Host → guest. */
  send: {
    una: number;
    next: number;
    max: number;
    /** Sequence number after the last byte the host gave us. */
    queue_end: number;
    queued_bytes: number;
    in_flight: number;
    /** The guest's window (scaled) and the segment that set it (SND.WL1 / SND.WL2). */
    window: number;
    window_shift: number;
    window_seq: number;
    window_ack: number;
    cwnd: number;
    ssthresh: number;
    duplicate_acks: number;
    in_recovery: boolean;
    recover_seq: number;
    retransmit_next: number;
    repair_mark: number;
    /** The SACK scoreboard: [left, right) ranges above una. */
    sacked: [number, number][];
    retransmit_count: number;
    probes_unanswered: number;
    srtt_ms: number;
    rttvar_ms: number;
    rto_ms: number;
    tail_probe_armed: boolean;
    tail_probe_sent: boolean;
    host_ended: boolean;
    fin_sent: boolean;
    fin_acked: boolean;
    /** We paused the host socket (send buffer full). */
    host_paused: boolean;
  };
  /** Guest → host. */
  receive: {
    next: number;
    window_shift: number;
    /** What we last advertised (unscaled bytes), and the room we would advertise now. */
    advertised_window: number;
    room_now: number;
    /** Out-of-order bytes held, as [start, end) ranges. */
    reorder_bytes: number;
    reorder_ranges: [number, number][];
    fin_received: boolean;
    fin_pending: boolean;
    fin_seq: number;
    ack_pending: boolean;
    /** In-order bytes gathered this batch, not yet written to the host socket. */
    gathered_bytes: number;
  };
  /** Milliseconds from now until each deadline, null when not armed. */
  timers: {
    retransmit_in_ms: number | null;
    life_in_ms: number | null;
    /** The delayed ACK of the guest's FIN (it rides on our FIN or data if they come first). */
    fin_ack_in_ms: number | null;
    /** When the flow is due in the timer queue (the earlier of the two). */
    queued_in_ms: number | null;
  };
  host: {
    attached: boolean;
    /** Bytes written to the host socket and not yet taken by the OS. */
    pending_write_bytes: number | null;
  };
}

function inMs(deadline: number, now: number): number | null {
  return deadline < 0 ? null : Math.round(deadline - now);
}

/** address:port, [IPv6]:port. */
function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Describes flow at time now; receiveRoom is the receiver's room computation (the window it would offer). */
export function describeFlow(flow: Flow, now: number, receiveRoom: number, format: (address: number) => string = formatIpv4): FlowDebug {
  const queue = flow.sendQueue;
  return {
    state: FlowState[flow.state],
    guest: endpointText(format(flow.guestAddress), flow.guestPort),
    remote: endpointText(format(flow.remoteAddress), flow.remotePort),
    mss: flow.sendMss,
    sack_permitted: flow.sackPermitted,
    timestamps: flow.timestamps,
    send: {
      una: queue.baseSeq,
      next: flow.sendNext,
      max: flow.sendMax,
      queue_end: queue.endSeq,
      queued_bytes: queue.length,
      in_flight: flow.inFlight,
      window: flow.sendWindow,
      window_shift: flow.sendWindowShift,
      window_seq: flow.windowSeq,
      window_ack: flow.windowAck,
      cwnd: flow.congestion.congestionWindow,
      ssthresh: flow.congestion.slowStartThreshold,
      duplicate_acks: flow.congestion.duplicateAcks,
      in_recovery: flow.congestion.inRecovery,
      recover_seq: flow.congestion.recoverSeq,
      retransmit_next: flow.congestion.retransmitNext,
      repair_mark: flow.congestion.repairMark,
      sacked: flow.sacked.toPairs(),
      retransmit_count: flow.retransmitCount,
      probes_unanswered: flow.probesUnanswered,
      srtt_ms: flow.rtt.smoothedRtt,
      rttvar_ms: flow.rtt.rttVariance,
      rto_ms: flow.rtt.rto,
      tail_probe_armed: flow.tailProbeArmed,
      tail_probe_sent: flow.tailProbeSent,
      host_ended: flow.hostEnded,
      fin_sent: flow.finSent,
      fin_acked: flow.finAcked,
      host_paused: flow.hostPaused,
    },
    receive: {
      next: flow.receiveNext,
      window_shift: flow.receiveWindowShift,
      advertised_window: flow.advertisedWindow,
      room_now: receiveRoom,
      reorder_bytes: flow.reorder.bytes,
      reorder_ranges: flow.reorder.heldRanges(),
      fin_received: flow.guestFinReceived,
      fin_pending: flow.guestFinPending,
      fin_seq: flow.guestFinSeq,
      ack_pending: flow.ackPending,
      gathered_bytes: flow.rxEnd - flow.rxStart,
    },
    timers: {
      retransmit_in_ms: inMs(flow.rtoAt, now),
      life_in_ms: inMs(flow.lifeAt, now),
      fin_ack_in_ms: inMs(flow.finAckAt, now),
      queued_in_ms: inMs(flow.timerDeadline, now),
    },
    host: {
      attached: flow.host !== null,
      pending_write_bytes: flow.host ? flow.host.pendingWriteBytes : null,
    },
  };
}
