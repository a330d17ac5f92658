/**
 * The flow state machine's table on its own (flow-state.ts): every (state, event) pair that is not
 * ignored, pinned as text, and the rules the table must keep whatever is added to it. The engine's
 * use of it is pinned packet by packet in tcp-state-machine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  actionsOf,
  FlowAction,
  FlowEvent,
  FlowState,
  hasGuestEnded,
  hasHostEnded,
  IGNORED,
  isEmbryonic,
  isFinAcked,
  isHalfClosed,
  isSynchronized,
  nextStateOf,
  transitionOf,
} from '../../src/stack/tcp/flow-state.js';

const states = Object.values(FlowState).filter((v): v is FlowState => typeof v === 'number');
const events = Object.values(FlowEvent).filter((v): v is FlowEvent => typeof v === 'number');
const actionNames = (actions: number): string =>
  Object.entries(FlowAction)
    .filter(([, bit]) => typeof bit === 'number' && (actions & bit) !== 0)
    .map(([name]) => name)
    .join('+');

function describeTable(closeQueued = false): string[] {
  const lines: string[] = [];
  for (const state of states) {
    for (const event of events) {
      const entry = transitionOf(state, event, closeQueued);
      if (entry === IGNORED) continue;
      const actions = actionNames(actionsOf(entry));
      lines.push(`${FlowState[state]} × ${FlowEvent[event]} → ${FlowState[nextStateOf(entry)]}${actions ? ` [${actions}]` : ''}`);
    }
  }
  return lines;
}

describe('flow state table', () => {
  it('is exactly this', () => {
    expect(describeTable()).toEqual([
      'Closed × GuestSyn → HostConnecting',
      'Closed × OpenToGuest → SynSent',
      'HostConnecting × HostConnected → SynReceived',
      'HostConnecting × HostEnd → HostConnecting [QueueClose]',
      'HostConnecting × GuestRst → Closed [Release]',
      'HostConnecting × HostRefused → Closed [RefuseSyn+DetachHost+Release]',
      'HostConnecting × HostError → Closed [Unreachable+DetachHost+Release]',
      'HostConnecting × HostClosed → Closed [DetachHost+Release]',
      'HostConnecting × LifeExpired → Closed [Release]',
      'HostConnecting × Evicted → Closed [Release]',
      'HostConnecting × Fault → Closed [RefuseSyn+LogAbort+ResetHost+Release]',
      'HostConnecting × Shutdown → Closed [DestroyHost]',
      'SynSent × HandshakeDone → Established [Establish]',
      'SynSent × HostEnd → SynSent [QueueClose]',
      'SynSent × GuestRst → Closed [Release]',
      'SynSent × HostRefused → Closed [DetachHost+Release]',
      'SynSent × HostError → Closed [DetachHost+Release]',
      'SynSent × HostClosed → Closed [DetachHost+Release]',
      'SynSent × LifeExpired → Closed [Release]',
      'SynSent × HandshakeTimeout → Closed [Release]',
      'SynSent × Evicted → Closed [Release]',
      'SynSent × Fault → Closed [LogAbort+ResetHost+Release]',
      'SynSent × Shutdown → Closed [DestroyHost]',
      'SynReceived × HandshakeDone → Established [Establish]',
      'SynReceived × HostEnd → SynReceived [QueueClose]',
      'SynReceived × GuestRst → Closed [Release]',
      'SynReceived × HostRefused → Closed [SendReset+LogAbort+DetachHost+Release]',
      'SynReceived × HostError → Closed [SendReset+LogAbort+DetachHost+Release]',
      'SynReceived × HostClosed → Closed [DetachHost+Release]',
      'SynReceived × LifeExpired → Closed [Release]',
      'SynReceived × HandshakeTimeout → Closed [SendReset+LogAbort+ResetHost+Release]',
      'SynReceived × Evicted → Closed [SendReset+LogAbort+ResetHost+Release]',
      'SynReceived × Fault → Closed [SendReset+LogAbort+ResetHost+Release]',
      'SynReceived × Shutdown → Closed [DestroyHost]',
      ...['Established', 'FinWait1', 'FinWait2', 'CloseWait', 'Closing', 'LastAck'].flatMap((s) => [
        ...(s === 'Established' ? ['Established × HostEnd → FinWait1 [Transmit+TouchIdle]', 'Established × GuestFin → CloseWait'] : []),
        ...(s === 'FinWait1' ? ['FinWait1 × GuestFin → Closing', 'FinWait1 × FinAcked → FinWait2'] : []),
        ...(s === 'FinWait2' ? ['FinWait2 × GuestFin → TimeWait [EnterTimeWait]'] : []),
        ...(s === 'CloseWait' ? ['CloseWait × HostEnd → LastAck [Transmit+TouchIdle]'] : []),
        ...(s === 'Closing' ? ['Closing × FinAcked → TimeWait [EnterTimeWait]'] : []),
        ...(s === 'LastAck' ? ['LastAck × FinAcked → Closed [Release]'] : []),
        `${s} × GuestRst → Closed [ResetHost+Release]`,
        `${s} × HostRefused → Closed [SendReset+LogAbort+DetachHost+Release]`,
        `${s} × HostError → Closed [SendReset+LogAbort+DetachHost+Release]`,
        ...(s === 'Closing' || s === 'LastAck' ? [] : [`${s} × HostClosed → Closed [SendReset+LogAbort+DetachHost+Release]`]),
        `${s} × LifeExpired → Closed [SendReset+LogAbort+ResetHost+Release]`,
        `${s} × PeerTimeout → Closed [SendReset+LogAbort+ResetHost+Release]`,
        `${s} × Fault → Closed [SendReset+LogAbort+ResetHost+Release]`,
        `${s} × Shutdown → Closed [DestroyHost]`,
      ]),
      'TimeWait × GuestRst → Closed [ResetHost+Release]',
      'TimeWait × TupleReused → Closed [Release]',
      'TimeWait × HostRefused → Closed [LogAbort+DetachHost+Release]',
      'TimeWait × HostError → Closed [LogAbort+DetachHost+Release]',
      'TimeWait × LifeExpired → Closed [Release]',
      'TimeWait × Evicted → Closed [Release]',
      'TimeWait × Fault → Closed [LogAbort+ResetHost+Release]',
      'TimeWait × Shutdown → Closed [DestroyHost]',
    ]);
  });

  it('a close queued during the handshake ends it in FIN-WAIT-1; nothing else changes', () => {
    const queued = describeTable(true);
    const plain = describeTable(false);
    expect(queued.filter((line) => !plain.includes(line))).toEqual([
      'SynSent × HandshakeDone → FinWait1 [Establish]',
      'SynReceived × HandshakeDone → FinWait1 [Establish]',
    ]);
    expect(queued).toHaveLength(plain.length);
  });

  it('keeps its invariants', () => {
    for (const state of states) {
      for (const event of events) {
        const entry = transitionOf(state, event, false);
        if (state === FlowState.Closed) {
          // A flow at its end takes no event; a new one only its opening.
          expect(entry === IGNORED || event === FlowEvent.GuestSyn || event === FlowEvent.OpenToGuest).toBe(true);
          continue;
        }
        if (event === FlowEvent.Fault || event === FlowEvent.Shutdown) expect(nextStateOf(entry)).toBe(FlowState.Closed);
        if (entry === IGNORED) continue;
        const next = nextStateOf(entry);
        const actions = actionsOf(entry);
        // The end of a flow always releases it (Shutdown: the engine drops every table at once).
        if (next === FlowState.Closed && event !== FlowEvent.Shutdown) expect(actions & FlowAction.Release).toBe(FlowAction.Release);
        if (next !== FlowState.Closed) expect(actions & (FlowAction.Release | FlowAction.ResetHost | FlowAction.SendReset)).toBe(0);
        // A reset at our sequence number only to a guest that has heard from us.
        if (actions & FlowAction.SendReset) expect(state === FlowState.SynReceived || isSynchronized(state)).toBe(true);
        if (actions & FlowAction.RefuseSyn) expect(state).toBe(FlowState.HostConnecting);
        // The host socket's fate is decided once.
        const hostFates = [FlowAction.ResetHost, FlowAction.DetachHost, FlowAction.DestroyHost].filter((bit) => actions & bit);
        expect(hostFates.length).toBeLessThanOrEqual(1);
        if (actions & FlowAction.EnterTimeWait) expect(next).toBe(FlowState.TimeWait);
        if (next === FlowState.TimeWait) expect(actions & FlowAction.EnterTimeWait).toBe(FlowAction.EnterTimeWait);
      }
    }
  });

  it('the predicates read the close flags off the state', () => {
    const rows = states.map((s) => [FlowState[s], isSynchronized(s), isHalfClosed(s), hasHostEnded(s), hasGuestEnded(s), isFinAcked(s), isEmbryonic(s)]);
    expect(rows).toEqual([
      // state, synchronized, half-closed, host ended, guest ended, our FIN acked, embryonic
      ['Closed', false, false, false, false, false, false],
      ['HostConnecting', false, false, false, false, false, true],
      ['SynSent', false, false, false, false, false, true],
      ['SynReceived', false, false, false, false, false, true],
      ['Established', true, false, false, false, false, false],
      ['FinWait1', true, true, true, false, false, false],
      ['FinWait2', true, true, true, false, true, false],
      ['CloseWait', true, true, false, true, false, false],
      ['Closing', true, true, true, true, false, false],
      ['LastAck', true, true, true, true, false, false],
      ['TimeWait', false, false, true, true, true, true],
    ]);
  });
});
