/**
 * The flow state machine (flow-state.ts, performed by TcpEngine.transition) packet by packet: each
 * transition of the table reached through segments, host socket events and timers, with the segments
 * the engine emits, what happens to the host socket, and the state debug_flows reports. Covers the
 * orderly closes from both sides and simultaneous close, FIN retransmission, TIME-WAIT (linger,
 * re-ACK, tuple reuse), a close queued during the handshake, RST in every state, host failures,
 * timeouts and eviction.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/wire/ip-address.js';
import {
  FakeHostStream,
  flagNames,
  GUEST_IP,
  GUEST_ISN,
  HostConnectError,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpContext,
  type Connection,
  type Emitted,
} from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;
const flags = (out: Emitted[]): string[] => out.map((s) => flagNames(s.flags));

/** The state debug_flows reports for the one flow, or 'gone'. */
function stateOf(t: TcpContext): string {
  const flows = t.engine.debugFlows();
  expect(flows.length).toBeLessThanOrEqual(1);
  return flows[0]?.state ?? 'gone';
}

/** A connection and where the guest's acknowledgment of our bytes stands. */
interface Scene {
  t: TcpContext;
  c: Connection;
  /** Our next sequence number (after our FIN once it went). */
  ourNext: number;
}

async function established(): Promise<Scene> {
  const t = new TcpContext();
  const c = await t.open();
  expect(stateOf(t)).toBe('Established');
  return { t, c, ourNext: c.remoteFirst };
}

/** The host ends: our FIN goes. */
async function hostEnds(s: Scene): Promise<Emitted[]> {
  s.c.stream.events.onEnd();
  const out = await s.t.drain();
  expect(flags(out)).toEqual(['FIN|ACK']);
  expect(out[0].seq).toBe(s.ourNext);
  s.ourNext = seq(s.ourNext, 1);
  return out;
}

/** The guest's FIN (acknowledging ack); the engine's ACK of it comes back at once. */
function guestFin(s: Scene, ack: number): Emitted[] {
  const out = s.t.inject(s.t.spec(s.c, { flags: TCP_ACK | TCP_FIN, ack }));
  s.c.guestNext = seq(s.c.guestNext, 1);
  expect(flags(out)).toEqual(['ACK']);
  expect(out[0].ack).toBe(s.c.guestNext);
  return out;
}

/**
 * The guest's FIN while the host socket is open: nothing at once (our FIN, due when the host ends,
 * would carry the ACK); the ACK alone once the delay (20 ms, on the timer queue's 10 ms grid) is over.
 */
async function guestFinHostOpen(s: Scene): Promise<void> {
  const out = s.t.inject(s.t.spec(s.c, { flags: TCP_ACK | TCP_FIN, ack: s.ourNext }));
  s.c.guestNext = seq(s.c.guestNext, 1);
  expect(out).toEqual([]);
  const later = await s.t.advance(30);
  expect(flags(later)).toEqual(['ACK']);
  expect(later[0].ack).toBe(s.c.guestNext);
}

function guestAck(s: Scene, ack: number): Emitted[] {
  return s.t.inject(s.t.spec(s.c, { flags: TCP_ACK, ack }));
}

async function inFinWait1(): Promise<Scene> {
  const s = await established();
  await hostEnds(s);
  expect(stateOf(s.t)).toBe('FinWait1');
  return s;
}

async function inFinWait2(): Promise<Scene> {
  const s = await inFinWait1();
  expect(guestAck(s, s.ourNext)).toEqual([]);
  expect(stateOf(s.t)).toBe('FinWait2');
  return s;
}

async function inCloseWait(): Promise<Scene> {
  const s = await established();
  await guestFinHostOpen(s);
  expect(s.c.stream.ended).toBe(true);
  expect(stateOf(s.t)).toBe('CloseWait');
  return s;
}

async function inClosing(): Promise<Scene> {
  const s = await inFinWait1();
  guestFin(s, s.c.remoteFirst); // crosses ours: does not acknowledge it
  expect(stateOf(s.t)).toBe('Closing');
  return s;
}

async function inLastAck(): Promise<Scene> {
  const s = await inCloseWait();
  await hostEnds(s);
  expect(stateOf(s.t)).toBe('LastAck');
  return s;
}

async function inTimeWait(): Promise<Scene> {
  const s = await inFinWait2();
  guestFin(s, s.ourNext);
  expect(stateOf(s.t)).toBe('TimeWait');
  return s;
}

describe('TCP state machine: opening', () => {
  it('guest open: HostConnecting on the SYN, SynReceived with the SYN-ACK, Established on the ACK', async () => {
    const t = new TcpContext();
    expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(stateOf(t)).toBe('HostConnecting');
    t.port.last.events.onConnect();
    const [synAck] = await t.drain();
    expect(flagNames(synAck.flags)).toBe('SYN|ACK');
    expect(stateOf(t)).toBe('SynReceived');
    expect(t.port.last.paused).toBe(true);
    expect(t.inject({ seq: GUEST_ISN + 1, ack: seq(synAck.seq, 1), flags: TCP_ACK })).toEqual([]);
    expect(stateOf(t)).toBe('Established');
    expect(t.port.last.paused).toBe(false);
  });

  it('published port: SynSent with our SYN, Established on the guest SYN-ACK', async () => {
    const t = new TcpContext();
    t.learnGuest();
    const client = parseIpv4('198.18.0.2')!;
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50000 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50000 });
      stream.events = events;
      return stream;
    });
    const [syn] = await t.drain();
    expect(stateOf(t)).toBe('SynSent');
    t.inject({ src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50000, seq: 7000, ack: seq(syn.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460 });
    expect(stateOf(t)).toBe('Established');
    expect(stream!.paused).toBe(false);
  });

  it('a host end during the guest handshake is queued: FinWait1 once established, the FIN after the data', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1000 });
    const stream = t.port.last;
    stream.events.onConnect();
    const [synAck] = await t.drain();
    stream.events.onData(Buffer.from('early'));
    stream.events.onEnd();
    expect(await t.drain()).toEqual([]); // nothing before the handshake is done
    expect(stateOf(t)).toBe('SynReceived');
    const out = t.inject({ seq: GUEST_ISN + 1, ack: seq(synAck.seq, 1), flags: TCP_ACK });
    expect(out.map((s) => [flagNames(s.flags), s.payload.toString(), s.seq - synAck.seq])).toEqual([
      ['PSH|ACK', 'early', 1],
      ['FIN|ACK', '', 6],
    ]);
    expect(stateOf(t)).toBe('FinWait1');
  });

  it('a host end before the published port handshake: FinWait1 on the SYN-ACK, FIN after the data', async () => {
    const t = new TcpContext();
    t.learnGuest();
    const client = parseIpv4('198.18.0.2')!;
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50000 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50000 });
      stream.events = events;
      return stream;
    });
    const [syn] = await t.drain();
    stream!.events.onData(Buffer.from('hello'));
    stream!.events.onEnd();
    expect(await t.drain()).toEqual([]);
    const out = t.inject({ src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50000, seq: 7000, ack: seq(syn.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460 });
    expect(out.map((s) => [flagNames(s.flags), s.payload.toString()])).toEqual([
      ['PSH|ACK', 'hello'],
      ['FIN|ACK', ''],
    ]);
    expect(stateOf(t)).toBe('FinWait1');
  });
});

describe('TCP state machine: orderly close', () => {
  it('we close first: FinWait1 → FinWait2 → TimeWait → gone after the linger, host socket ended then destroyed', async () => {
    const s = await inTimeWait();
    expect(s.c.stream.ended).toBe(true);
    expect(s.c.stream.destroyed).toBe(true);
    expect(s.c.stream.wasReset).toBe(false);
    expect(await s.t.advance(1990)).toEqual([]);
    expect(stateOf(s.t)).toBe('TimeWait');
    await s.t.advance(20);
    expect(stateOf(s.t)).toBe('gone');
    expect(s.t.clock.pendingTimers).toBe(0);
  });

  it('the guest closes first: CloseWait → LastAck → gone at the ACK of our FIN (no TIME-WAIT of ours, no timer left)', async () => {
    const s = await inLastAck();
    expect(s.c.stream.destroyed).toBe(false);
    expect(guestAck(s, s.ourNext)).toEqual([]);
    expect(stateOf(s.t)).toBe('gone');
    expect(s.c.stream.destroyed).toBe(true);
    await s.t.expectNoTimerLeft();
  });

  it('simultaneous close: FinWait1 → Closing (FINs cross) → TimeWait on the ACK of ours', async () => {
    const s = await inClosing();
    expect(guestAck(s, s.ourNext)).toEqual([]);
    expect(stateOf(s.t)).toBe('TimeWait');
    await s.t.advance(2010);
    expect(stateOf(s.t)).toBe('gone');
    expect(s.t.clock.pendingTimers).toBe(0);
  });

  it('the guest FIN acknowledging ours in one segment: FinWait1 → TimeWait at once', async () => {
    const s = await inFinWait1();
    guestFin(s, s.ourNext);
    expect(stateOf(s.t)).toBe('TimeWait');
  });

  it('half-closed: data keeps flowing the open way in FinWait2 and CloseWait', async () => {
    const w2 = await inFinWait2();
    w2.t.guestData(w2.c, 'more', w2.ourNext);
    expect(w2.c.stream.text()).toBe('more');
    expect(stateOf(w2.t)).toBe('FinWait2');
    const cw = await inCloseWait();
    const out = await cw.t.hostData(cw.c, 'reply');
    expect(out.map((seg) => seg.payload.toString())).toEqual(['reply']);
    expect(stateOf(cw.t)).toBe('CloseWait');
  });

  it('FIN retransmission: an unacknowledged FIN goes again on RTO in FinWait1, Closing and LastAck', async () => {
    for (const scene of [inFinWait1, inClosing, inLastAck]) {
      const s = await scene();
      const state = stateOf(s.t);
      const again = await s.t.advance(1100);
      expect(flags(again), state).toEqual(['FIN|ACK']);
      expect(again[0].seq).toBe(seq(s.ourNext, -1));
      expect(stateOf(s.t)).toBe(state);
    }
  });

  it('TIME-WAIT re-acknowledges a retransmitted guest FIN and stays', async () => {
    const s = await inTimeWait();
    const out = s.t.inject(s.t.spec(s.c, { flags: TCP_ACK | TCP_FIN, seq: seq(s.c.guestNext, -1), ack: s.ourNext }));
    expect(flags(out)).toEqual(['ACK']);
    expect(out[0].ack).toBe(s.c.guestNext);
    expect(stateOf(s.t)).toBe('TimeWait');
  });

  it('TIME-WAIT gives its tuple to a new SYN: the old flow goes, a new connect starts', async () => {
    const s = await inTimeWait();
    expect(s.t.inject({ seq: GUEST_ISN + 100_000, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(s.t.port.streams).toHaveLength(2);
    expect(stateOf(s.t)).toBe('HostConnecting');
  });
});

describe('TCP state machine: RST from the guest', () => {
  it('HostConnecting: the connect is abandoned (host socket destroyed), nothing is sent', () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(t.inject({ seq: GUEST_ISN + 1, flags: TCP_RST })).toEqual([]);
    expect(stateOf(t)).toBe('gone');
    expect(t.port.last.destroyed).toBe(true);
    expect(t.port.last.wasReset).toBe(false);
  });

  it('SynReceived: the flow goes, the host socket is destroyed', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onConnect();
    await t.drain();
    expect(t.inject({ seq: GUEST_ISN + 1, flags: TCP_RST })).toEqual([]);
    expect(stateOf(t)).toBe('gone');
    expect(t.port.last.destroyed).toBe(true);
  });

  it('SynSent: RST|ACK refuses (host socket destroyed); a bare RST is ignored', async () => {
    const t = new TcpContext();
    t.learnGuest();
    const client = parseIpv4('198.18.0.2')!;
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8081, remoteAddress: client, remotePort: 50002 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50002 });
      stream.events = events;
      return stream;
    });
    const [syn] = await t.drain();
    const base = { src: GUEST_IP, dst: client, srcPort: 8081, dstPort: 50002, seq: 0 };
    expect(t.inject({ ...base, flags: TCP_RST })).toEqual([]);
    expect(stateOf(t)).toBe('SynSent');
    expect(t.inject({ ...base, ack: seq(syn.seq, 1), flags: TCP_RST | TCP_ACK })).toEqual([]);
    expect(stateOf(t)).toBe('gone');
    expect(stream!.destroyed).toBe(true);
  });

  it.each([
    ['Established', established],
    ['FinWait1', inFinWait1],
    ['FinWait2', inFinWait2],
    ['CloseWait', inCloseWait],
    ['Closing', inClosing],
    ['LastAck', inLastAck],
    ['TimeWait', inTimeWait],
  ])('%s: a RST at RCV.NXT closes (host socket reset while it is held); others get a challenge ACK', async (state, scene) => {
    const s = await scene();
    const challenge = s.t.inject(s.t.spec(s.c, { flags: TCP_RST, seq: seq(s.c.guestNext, 5000) }));
    expect(flags(challenge)).toEqual(['ACK']);
    expect(stateOf(s.t)).toBe(state);
    const hostHeld = !s.c.stream.destroyed;
    expect(s.t.inject(s.t.spec(s.c, { flags: TCP_RST }))).toEqual([]);
    expect(stateOf(s.t)).toBe('gone');
    expect(s.c.stream.wasReset).toBe(hostHeld);
    await s.t.expectNoTimerLeft();
  });
});

describe('TCP state machine: the host socket fails or closes', () => {
  it('HostConnecting: refused → RST|ACK to the guest; unreachable → ICMP host unreachable; the flow goes', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onError(HostConnectError.Refused, 'ECONNREFUSED');
    const [rst] = await t.drain();
    expect([flagNames(rst.flags), rst.seq, rst.ack]).toEqual(['RST|ACK', 0, GUEST_ISN + 1]);
    expect(stateOf(t)).toBe('gone');
    const u = new TcpContext();
    u.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    u.port.last.events.onError(HostConnectError.Unreachable, 'EHOSTUNREACH');
    const [icmp] = await u.drain();
    expect([icmp.icmpType, icmp.icmpCode]).toEqual([3, 1]);
    expect(stateOf(u)).toBe('gone');
  });

  it('Established, FinWait1, FinWait2, CloseWait: a host error or close resets the guest at our next sequence number', async () => {
    for (const scene of [established, inFinWait1, inFinWait2, inCloseWait]) {
      for (const happen of ['error', 'close'] as const) {
        const s = await scene();
        if (happen === 'error') s.c.stream.events.onError(0, 'ECONNRESET');
        else s.c.stream.events.onClose();
        const out = await s.t.drain();
        expect(flags(out)).toEqual(['RST|ACK']);
        expect(out[0].seq).toBe(s.ourNext);
        expect(stateOf(s.t)).toBe('gone');
      }
    }
  });

  it('Closing and LastAck: the host socket closing is the orderly end, ignored', async () => {
    for (const scene of [inClosing, inLastAck]) {
      const s = await scene();
      const state = stateOf(s.t);
      s.c.stream.events.onClose();
      expect(await s.t.drain()).toEqual([]);
      expect(stateOf(s.t)).toBe(state);
    }
  });
});

describe('TCP state machine: timers and the table bound', () => {
  it('HostConnecting: the connect is given up after 75 s, silently', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(await t.advance(76_000)).toEqual([]);
    expect(stateOf(t)).toBe('gone');
    expect(t.port.last.destroyed).toBe(true);
  });

  it('SynReceived: SYN-ACK retries exhausted → RST|ACK, host socket reset', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onConnect();
    await t.drain();
    const out = await t.advance(120_000);
    expect(flags(out)).toEqual(['SYN|ACK', 'SYN|ACK', 'SYN|ACK', 'SYN|ACK', 'SYN|ACK', 'RST|ACK']);
    expect(stateOf(t)).toBe('gone');
    expect(t.port.last.wasReset).toBe(true);
  });

  it('CloseWait and FinWait2: reset after 10 minutes half-closed and idle', async () => {
    for (const scene of [inCloseWait, inFinWait2]) {
      const s = await scene();
      const out = await s.t.advance(11 * 60_000);
      expect(flags(out)).toContain('RST|ACK');
      expect(stateOf(s.t)).toBe('gone');
      expect(s.c.stream.wasReset).toBe(true);
    }
  });

  it('a full table evicts the oldest flow not established: a SynReceived one hears a reset', async () => {
    const t = new TcpContext({ limits: { tcpFlows: 2 } });
    await t.open({ srcPort: 1001 });
    t.inject({ srcPort: 1002, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onConnect();
    await t.drain();
    const out = t.inject({ srcPort: 1003, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(out.map((s) => [flagNames(s.flags), s.dstPort])).toEqual([['RST|ACK', 1002]]);
    expect(t.port.streams[1].wasReset).toBe(true);
    expect(t.engine.debugFlows().map((f) => f.state).sort()).toEqual(['Established', 'HostConnecting']);
  });

  it('a full table evicts a flow in TIME-WAIT silently', async () => {
    const small = new TcpContext({ limits: { tcpFlows: 1 } });
    const scene: Scene = { t: small, c: await small.open(), ourNext: 0 };
    scene.ourNext = scene.c.remoteFirst;
    await hostEnds(scene);
    guestAck(scene, scene.ourNext);
    guestFin(scene, scene.ourNext);
    expect(stateOf(small)).toBe('TimeWait');
    expect(small.inject({ srcPort: 2000, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(small.engine.debugFlows().map((f) => f.state)).toEqual(['HostConnecting']);
  });
});
