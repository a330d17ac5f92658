/**
 * DHCP server, packet level: the service is driven as the UDP engine drives it (receiveUdp with the
 * datagram's addresses and payload) on a Stack with a FakeClock, and its replies are captured from a
 * fake UdpGuestSender and decoded with the wire codec. Every option of OFFER/ACK is checked; leases
 * (renewal, two clients, exhaustion, NAK, release, decline, inform, expiry) and malformed input
 * (truncated at every offset, bad cookie, bad option lengths) are covered.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { DHCP_LEASE_SECONDS, DHCP_OFFER_HOLD_MS, DhcpServer, installDhcp } from '../../src/stack/services/dhcp-server.js';
import type { UdpGuestSender, UdpService } from '../../src/stack/udp/udp-service.js';
import type { Stack } from '../../src/stack/stack.js';
import { readUint16, readUint32 } from '../../src/wire/bytes.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/ip-address.js';
import {
  BOOTP_FLAG_BROADCAST,
  BOOTP_MIN_LENGTH,
  BOOTP_REPLY,
  DHCP_MAGIC_COOKIE,
  DHCP_OPTIONS_OFFSET,
  DhcpMessage,
  DhcpMessageType,
  DhcpOption,
} from '../../src/wire/dhcp.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { decodeIpv4Frame } from '../support/oracle.js';
import { createStackContext, ipv4Frame, type StackContext } from '../support/stack-context.js';
import { createUdpContext, decodeUdp, udpDatagram } from '../support/udp-context.js';
import { VETH_DHCP_DISCOVER } from '../wire/captured.js';

const BROADCAST = 0xffffffff;
const GATEWAY = parseIpv4('10.0.2.2')!;
const ip = (text: string): number => parseIpv4(text)!;

interface Sent {
  source: number;
  sourcePort: number;
  destination: number;
  destinationPort: number;
  payload: Uint8Array;
}

class FakeSender implements UdpGuestSender {
  readonly sent: Sent[] = [];
  sendToGuest(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): void {
    this.sent.push({ source, sourcePort, destination, destinationPort, payload: payload.slice() });
  }
  take(): Sent[] {
    return this.sent.splice(0);
  }
}

interface ClientMessage {
  type: DhcpMessageType | number;
  mac?: number;
  xid?: number;
  flags?: number;
  ciaddr?: number;
  giaddr?: number;
  requested?: number;
  serverId?: number;
  clientId?: number[];
  /** Extra raw option bytes appended before End. */
  extra?: number[];
}

const MAC_A = 0x5254_0012_3456;
const MAC_B = 0x5254_0012_3457;

/** A client message as udhcpc/dhclient build one: fixed part, cookie, options, End, padded to 300. */
function clientMessage(m: ClientMessage): Uint8Array {
  const options: number[] = [DhcpOption.MessageType, 1, m.type];
  const addr = (code: number, a: number) => options.push(code, 4, a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255);
  if (m.requested !== undefined) addr(DhcpOption.RequestedIpAddress, m.requested);
  if (m.serverId !== undefined) addr(DhcpOption.ServerIdentifier, m.serverId);
  if (m.clientId !== undefined) options.push(DhcpOption.ClientIdentifier, m.clientId.length, ...m.clientId);
  options.push(DhcpOption.ParameterRequestList, 4, 1, 3, 6, 26);
  if (m.extra) options.push(...m.extra);
  options.push(DhcpOption.End);
  const buf = new Uint8Array(Math.max(BOOTP_MIN_LENGTH, DHCP_OPTIONS_OFFSET + options.length));
  const view = new DataView(buf.buffer);
  buf[0] = 1; // BOOTREQUEST
  buf[1] = 1;
  buf[2] = 6;
  view.setUint32(4, m.xid ?? 0x1234_5678);
  view.setUint16(10, m.flags ?? 0);
  view.setUint32(12, m.ciaddr ?? 0);
  view.setUint32(24, m.giaddr ?? 0);
  const mac = m.mac ?? MAC_A;
  for (let k = 0; k < 6; k++) buf[28 + k] = Math.floor(mac / 2 ** (8 * (5 - k))) & 255;
  view.setUint32(236, DHCP_MAGIC_COOKIE);
  buf.set(options, DHCP_OPTIONS_OFFSET);
  return buf;
}

interface Decoded {
  type: number;
  xid: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  chaddr: number;
  /** Option code → data bytes, in order of appearance. */
  options: Map<number, number[]>;
  order: number[];
  length: number;
}

function decode(payload: Uint8Array): Decoded {
  const m = new DhcpMessage();
  expect(m.wrap(payload, 0, payload.length)).toBe(DropReason.None);
  expect(m.op).toBe(BOOTP_REPLY);
  const options = new Map<number, number[]>();
  const order: number[] = [];
  let i = DHCP_OPTIONS_OFFSET;
  while (i < payload.length && payload[i] !== DhcpOption.End) {
    if (payload[i] === 0) {
      i++;
      continue;
    }
    options.set(payload[i], Array.from(payload.subarray(i + 2, i + 2 + payload[i + 1])));
    order.push(payload[i]);
    i += 2 + payload[i + 1];
  }
  expect(payload[i]).toBe(DhcpOption.End);
  // Zero padding after End, nothing leaked.
  expect(payload.subarray(i + 1).every((b) => b === 0)).toBe(true);
  return {
    type: m.messageType,
    xid: m.xid,
    flags: m.flags,
    ciaddr: m.ciaddr,
    yiaddr: m.yiaddr,
    siaddr: m.siaddr,
    giaddr: m.giaddr,
    chaddr: m.chaddr,
    options,
    order,
    length: payload.length,
  };
}

const u32 = (bytes: number[] | undefined): number => readUint32(Uint8Array.from(bytes ?? []), 0);

let context: StackContext | undefined;
afterEach(() => context?.stack.close());

function setup(config: Parameters<typeof createStackContext>[0] = {}): { stack: Stack; server: DhcpServer; sender: FakeSender; ctx: StackContext } {
  const ctx = createStackContext(config);
  context = ctx;
  const sender = new FakeSender();
  const server = new DhcpServer(ctx.stack, sender);
  return { stack: ctx.stack, server, sender, ctx };
}

/** Offers a message from the guest as the UDP engine would (0.0.0.0:68 or ciaddr:68 → dest:67). */
function send(server: UdpService, payload: Uint8Array, options: { source?: number; destination?: number; destinationPort?: number } = {}): boolean {
  return server.receiveUdp(options.source ?? 0, 68, options.destination ?? BROADCAST, options.destinationPort ?? 67, payload);
}

function drops(stack: Stack, reason: DropReason): number {
  return stack.stats.drops[reason];
}

/** DISCOVER → OFFER → REQUEST → ACK for mac; returns the ACK. */
function lease(server: DhcpServer, sender: FakeSender, mac: number, clientId?: number[], serverId = GATEWAY): Decoded {
  send(server, clientMessage({ type: DhcpMessageType.Discover, mac, clientId }));
  const [offer] = sender.take();
  const o = decode(offer.payload);
  expect(o.type).toBe(DhcpMessageType.Offer);
  send(server, clientMessage({ type: DhcpMessageType.Request, mac, clientId, requested: o.yiaddr, serverId }));
  const [ack] = sender.take();
  const a = decode(ack.payload);
  expect(a.type).toBe(DhcpMessageType.Ack);
  return a;
}

describe('DHCP server', () => {
  test('DISCOVER → OFFER → REQUEST → ACK with every option, broadcast from the gateway port 67 to port 68', () => {
    const { server, sender, stack } = setup();
    expect(send(server, clientMessage({ type: DhcpMessageType.Discover, xid: 0xcafe0001 }))).toBe(true);
    const offers = sender.take();
    expect(offers).toHaveLength(1);
    const offer = offers[0];
    expect([offer.source, offer.sourcePort, offer.destination, offer.destinationPort]).toEqual([GATEWAY, 67, BROADCAST, 68]);
    const o = decode(offer.payload);
    expect(o.length).toBe(BOOTP_MIN_LENGTH);
    expect(o.type).toBe(DhcpMessageType.Offer);
    expect(o.xid).toBe(0xcafe0001);
    expect(formatIpv4(o.yiaddr)).toBe('10.0.2.15');
    expect([o.ciaddr, o.siaddr, o.giaddr, o.flags]).toEqual([0, 0, 0, 0]);
    expect(o.chaddr).toBe(MAC_A);
    expect(o.order).toEqual([53, 54, 51, 1, 3, 6, 26]);
    expect(u32(o.options.get(DhcpOption.ServerIdentifier))).toBe(GATEWAY);
    expect(u32(o.options.get(DhcpOption.LeaseTime))).toBe(86400);
    expect(formatIpv4(u32(o.options.get(DhcpOption.SubnetMask)))).toBe('255.255.255.0');
    expect(formatIpv4(u32(o.options.get(DhcpOption.Router)))).toBe('10.0.2.2');
    expect(formatIpv4(u32(o.options.get(DhcpOption.DomainNameServer)))).toBe('10.0.2.3');
    expect(readUint16(Uint8Array.from(o.options.get(DhcpOption.InterfaceMtu)!), 0)).toBe(stack.config.mtu);

    send(server, clientMessage({ type: DhcpMessageType.Request, xid: 0xcafe0002, requested: o.yiaddr, serverId: GATEWAY }));
    const [ack] = sender.take();
    expect([ack.source, ack.sourcePort, ack.destination, ack.destinationPort]).toEqual([GATEWAY, 67, BROADCAST, 68]);
    const a = decode(ack.payload);
    expect(a.type).toBe(DhcpMessageType.Ack);
    expect(a.xid).toBe(0xcafe0002);
    expect(formatIpv4(a.yiaddr)).toBe('10.0.2.15');
    expect(a.order).toEqual([53, 54, 51, 1, 3, 6, 26]);
    expect(u32(a.options.get(DhcpOption.LeaseTime))).toBe(DHCP_LEASE_SECONDS);
    expect(formatIpv4(u32(a.options.get(DhcpOption.DomainNameServer)))).toBe('10.0.2.3');
    expect(server.describeLeases()).toEqual([{ address: '10.0.2.15', state: 'bound', key: `hw:${MAC_A.toString(16)}` }]);
    expect(stack.stats.totalDrops).toBe(0);
  });

  test('the broadcast flag is echoed; the reply is broadcast either way', () => {
    const { server, sender } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Discover, flags: BOOTP_FLAG_BROADCAST }));
    const [offer] = sender.take();
    expect(offer.destination).toBe(BROADCAST);
    expect(decode(offer.payload).flags).toBe(BOOTP_FLAG_BROADCAST);
  });

  test('options follow the network: --cidr, --mtu, --disable-dns leaves out option 6', () => {
    const { server, sender } = setup({ config: { cidr: '10.8.0.0/16', mtu: 65520, disableDns: true } });
    const a = lease(server, sender, MAC_A, undefined, ip('10.8.0.2'));
    expect(formatIpv4(a.yiaddr)).toBe('10.8.0.15');
    expect(a.order).toEqual([53, 54, 51, 1, 3, 26]);
    expect(a.options.has(DhcpOption.DomainNameServer)).toBe(false);
    expect(formatIpv4(u32(a.options.get(DhcpOption.ServerIdentifier)))).toBe('10.8.0.2');
    expect(formatIpv4(u32(a.options.get(DhcpOption.SubnetMask)))).toBe('255.255.0.0');
    expect(formatIpv4(u32(a.options.get(DhcpOption.Router)))).toBe('10.8.0.2');
    expect(readUint16(Uint8Array.from(a.options.get(DhcpOption.InterfaceMtu)!), 0)).toBe(65520);
  });

  test('renewal (RENEWING: ciaddr, unicast) keeps the address and extends the lease; the ACK goes to ciaddr', () => {
    const { server, sender, ctx } = setup();
    lease(server, sender, MAC_A);
    ctx.clock.advance((DHCP_LEASE_SECONDS / 2) * 1000);
    send(server, clientMessage({ type: DhcpMessageType.Request, ciaddr: ip('10.0.2.15') }), { source: ip('10.0.2.15'), destination: GATEWAY });
    const [ack] = sender.take();
    expect(ack.destination).toBe(ip('10.0.2.15'));
    const a = decode(ack.payload);
    expect(a.type).toBe(DhcpMessageType.Ack);
    expect(formatIpv4(a.yiaddr)).toBe('10.0.2.15');
    expect(formatIpv4(a.ciaddr)).toBe('10.0.2.15');
    // The lease now runs a full period from the renewal: still bound after the original expiry.
    ctx.clock.advance((DHCP_LEASE_SECONDS / 2 + 10) * 1000);
    expect(server.describeLeases().map((l) => l.state)).toEqual(['bound']);
    // A new DISCOVER from the same client (e.g. udhcpc restarted) is offered the same address.
    send(server, clientMessage({ type: DhcpMessageType.Discover }));
    expect(formatIpv4(decode(sender.take()[0].payload).yiaddr)).toBe('10.0.2.15');
  });

  test('INIT-REBOOT (requested IP, no server id) gets its address again; another client asking for it is NAKed', () => {
    const { server, sender } = setup();
    lease(server, sender, MAC_A);
    send(server, clientMessage({ type: DhcpMessageType.Request, requested: ip('10.0.2.15') }));
    expect(decode(sender.take()[0].payload).type).toBe(DhcpMessageType.Ack);
    send(server, clientMessage({ type: DhcpMessageType.Request, mac: MAC_B, requested: ip('10.0.2.15') }));
    const [nak] = sender.take();
    expect(nak.destination).toBe(BROADCAST);
    expect(decode(nak.payload).type).toBe(DhcpMessageType.Nak);
  });

  test('a client remembering a free address from before a restart (INIT-REBOOT) gets it', () => {
    const { server, sender } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Request, requested: ip('10.0.2.20') }));
    const a = decode(sender.take()[0].payload);
    expect(a.type).toBe(DhcpMessageType.Ack);
    expect(formatIpv4(a.yiaddr)).toBe('10.0.2.20');
  });

  test('two clients get .15 and .16; keys by client identifier when sent', () => {
    const { server, sender } = setup();
    expect(formatIpv4(lease(server, sender, MAC_A).yiaddr)).toBe('10.0.2.15');
    expect(formatIpv4(lease(server, sender, MAC_B).yiaddr)).toBe('10.0.2.16');
    // Same MAC, different client ids: two clients (e.g. two DHCP clients on one interface).
    expect(formatIpv4(lease(server, sender, MAC_A, [1, 2, 3]).yiaddr)).toBe('10.0.2.17');
    // The same client id from another MAC is the same client.
    expect(formatIpv4(lease(server, sender, MAC_B, [1, 2, 3]).yiaddr)).toBe('10.0.2.17');
  });

  test('an outstanding offer holds its address from other clients, then lapses', () => {
    const { server, sender, ctx } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Discover, mac: MAC_A }));
    expect(formatIpv4(decode(sender.take()[0].payload).yiaddr)).toBe('10.0.2.15');
    send(server, clientMessage({ type: DhcpMessageType.Discover, mac: MAC_B }));
    expect(formatIpv4(decode(sender.take()[0].payload).yiaddr)).toBe('10.0.2.16');
    ctx.clock.advance(DHCP_OFFER_HOLD_MS + 1);
    expect(server.describeLeases()).toEqual([]);
    // A late REQUEST for a lapsed offer nobody took is still granted.
    send(server, clientMessage({ type: DhcpMessageType.Request, mac: MAC_A, requested: ip('10.0.2.15'), serverId: GATEWAY }));
    expect(decode(sender.take()[0].payload).type).toBe(DhcpMessageType.Ack);
  });

  test('pool exhaustion: 16 leases .15–.30, the 17th client gets no offer (counted as table_full)', () => {
    const { server, sender, stack } = setup();
    for (let i = 0; i < 16; i++) expect(formatIpv4(lease(server, sender, MAC_A + 0x100 + i).yiaddr)).toBe(`10.0.2.${15 + i}`);
    expect(send(server, clientMessage({ type: DhcpMessageType.Discover, mac: MAC_B }))).toBe(true);
    expect(sender.take()).toEqual([]);
    expect(drops(stack, DropReason.TableFull)).toBe(1);
    // Existing leases are untouched: a renewal still works.
    send(server, clientMessage({ type: DhcpMessageType.Request, mac: MAC_A + 0x100, ciaddr: ip('10.0.2.15') }), { source: ip('10.0.2.15'), destination: GATEWAY });
    expect(decode(sender.take()[0].payload).type).toBe(DhcpMessageType.Ack);
  });

  test('leases expire after 86400 s: then the address goes to a new client', () => {
    const { server, sender, ctx } = setup();
    for (let i = 0; i < 16; i++) lease(server, sender, MAC_A + 0x100 + i);
    ctx.clock.advance(DHCP_LEASE_SECONDS * 1000);
    expect(formatIpv4(lease(server, sender, MAC_B).yiaddr)).toBe('10.0.2.15');
  });

  test('REQUEST for an address that was not offered → NAK (broadcast, options 53 and 54 only)', () => {
    const { server, sender } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Discover }));
    sender.take();
    send(server, clientMessage({ type: DhcpMessageType.Request, requested: ip('10.0.2.99'), serverId: GATEWAY, flags: 0 }));
    const [nak] = sender.take();
    expect(nak.destination).toBe(BROADCAST);
    const n = decode(nak.payload);
    expect(n.type).toBe(DhcpMessageType.Nak);
    expect(n.yiaddr).toBe(0);
    expect(n.order).toEqual([53, 54]);
    // Outside the pool and outside the network, INIT-REBOOT: NAK too.
    send(server, clientMessage({ type: DhcpMessageType.Request, requested: ip('192.168.1.5') }));
    expect(decode(sender.take()[0].payload).type).toBe(DhcpMessageType.Nak);
  });

  test('REQUEST naming another server: silent, and our offer is released', () => {
    const { server, sender } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Discover }));
    sender.take();
    send(server, clientMessage({ type: DhcpMessageType.Request, requested: ip('10.0.2.15'), serverId: ip('10.0.2.9') }));
    expect(sender.take()).toEqual([]);
    expect(server.describeLeases()).toEqual([]);
  });

  test('RELEASE frees the address for another client; the releasing client gets it back if still free', () => {
    const { server, sender } = setup();
    lease(server, sender, MAC_A);
    send(server, clientMessage({ type: DhcpMessageType.Release, ciaddr: ip('10.0.2.15'), serverId: GATEWAY }), { source: ip('10.0.2.15'), destination: GATEWAY });
    expect(sender.take()).toEqual([]);
    expect(server.describeLeases()).toEqual([]);
    expect(formatIpv4(lease(server, sender, MAC_A).yiaddr)).toBe('10.0.2.15');
    send(server, clientMessage({ type: DhcpMessageType.Release, ciaddr: ip('10.0.2.15'), serverId: GATEWAY }), { source: ip('10.0.2.15'), destination: GATEWAY });
    // Fill .16–.30 with others: the released .15 is then the only one left and goes to the newcomer.
    for (let i = 0; i < 15; i++) lease(server, sender, MAC_A + 0x100 + i);
    expect(formatIpv4(lease(server, sender, MAC_B).yiaddr)).toBe('10.0.2.15');
  });

  test('RELEASE from another client does not free someone else’s lease', () => {
    const { server, sender } = setup();
    lease(server, sender, MAC_A);
    send(server, clientMessage({ type: DhcpMessageType.Release, mac: MAC_B, ciaddr: ip('10.0.2.15'), serverId: GATEWAY }));
    expect(server.describeLeases().map((l) => l.state)).toEqual(['bound']);
  });

  test('DECLINE takes the address out of the pool; the client is then offered the next one', () => {
    const { server, sender } = setup();
    lease(server, sender, MAC_A);
    send(server, clientMessage({ type: DhcpMessageType.Decline, requested: ip('10.0.2.15'), serverId: GATEWAY }));
    expect(sender.take()).toEqual([]);
    expect(server.describeLeases()).toEqual([{ address: '10.0.2.15', state: 'declined', key: '' }]);
    expect(formatIpv4(lease(server, sender, MAC_A).yiaddr)).toBe('10.0.2.16');
  });

  test('INFORM: an ACK to ciaddr with the parameters, no address, no lease time', () => {
    const { server, sender } = setup();
    send(server, clientMessage({ type: DhcpMessageType.Inform, ciaddr: ip('10.0.2.100') }), { source: ip('10.0.2.100'), destination: GATEWAY });
    const [ack] = sender.take();
    expect(ack.destination).toBe(ip('10.0.2.100'));
    const a = decode(ack.payload);
    expect(a.type).toBe(DhcpMessageType.Ack);
    expect(a.yiaddr).toBe(0);
    expect(a.order).toEqual([53, 54, 1, 3, 6, 26]);
    expect(server.describeLeases()).toEqual([]);
  });

  test('not ours: other ports and other destinations are left to the UDP engine', () => {
    const { server, sender } = setup();
    const discover = clientMessage({ type: DhcpMessageType.Discover });
    expect(send(server, discover, { destinationPort: 68 })).toBe(false);
    expect(send(server, discover, { destinationPort: 53 })).toBe(false);
    expect(send(server, discover, { destination: ip('192.0.2.1') })).toBe(false);
    expect(send(server, discover, { destination: ip('10.0.2.3') })).toBe(false);
    expect(sender.take()).toEqual([]);
    // The subnet broadcast and the gateway address are ours.
    expect(send(server, discover, { destination: ip('10.0.2.255') })).toBe(true);
    expect(send(server, discover, { destination: GATEWAY })).toBe(true);
    expect(sender.take()).toHaveLength(2);
  });

  describe('malformed input is dropped and counted, never thrown', () => {
    test('truncated at every offset', () => {
      const { server, sender, stack } = setup();
      const discover = clientMessage({ type: DhcpMessageType.Discover, clientId: [1, 2, 3, 4, 5, 6, 7] });
      // Find the End option: cutting after it leaves a whole message.
      const end = discover.lastIndexOf(DhcpOption.End);
      let dropped = 0;
      for (let length = 0; length <= end; length++) {
        expect(send(server, discover.slice(0, length))).toBe(true);
        const replies = sender.take();
        if (replies.length === 0) dropped++;
        else {
          // Only a cut after whole options (53 at least) may be answered.
          expect(length).toBeGreaterThanOrEqual(DHCP_OPTIONS_OFFSET + 3);
        }
      }
      expect(stack.stats.totalDrops).toBe(dropped);
      expect(dropped).toBeGreaterThan(DHCP_OPTIONS_OFFSET);
      expect(drops(stack, DropReason.Truncated)).toBe(DHCP_OPTIONS_OFFSET);
    });

    test('bad magic cookie, bad hardware type, BOOTREPLY op, plain BOOTP, server message types', () => {
      const { server, sender, stack } = setup();
      const bad = (mutate: (b: Uint8Array) => void, type: DhcpMessageType | number = DhcpMessageType.Discover) => {
        const b = clientMessage({ type });
        mutate(b);
        expect(send(server, b)).toBe(true);
      };
      bad((b) => (b[236] = 0x64));
      bad((b) => (b[1] = 6)); // htype IEEE 802
      bad((b) => (b[2] = 16)); // hlen
      bad((b) => (b[0] = 2)); // BOOTREPLY
      bad((b) => b.fill(0, DHCP_OPTIONS_OFFSET, DHCP_OPTIONS_OFFSET + 3)); // no option 53: BOOTP
      bad(() => undefined, DhcpMessageType.Offer);
      bad(() => undefined, DhcpMessageType.Ack);
      bad(() => undefined, 99);
      expect(sender.take()).toEqual([]);
      expect(drops(stack, DropReason.Malformed)).toBe(8);
    });

    test('bad option lengths: running past the end, option 53 of the wrong length, empty client id', () => {
      const { server, sender, stack } = setup();
      // An option whose length runs past the end of the message (no End, no padding).
      const over = clientMessage({ type: DhcpMessageType.Discover, extra: [DhcpOption.HostName, 200, 0x41] });
      const end = over.lastIndexOf(DhcpOption.End);
      expect(send(server, over.slice(0, end))).toBe(true);
      // A length byte as the last byte.
      const lone = clientMessage({ type: DhcpMessageType.Discover, extra: [DhcpOption.HostName] });
      expect(send(server, lone.slice(0, lone.lastIndexOf(DhcpOption.End)))).toBe(true);
      expect(drops(stack, DropReason.BadOption)).toBe(2);
      // Option 53 with length 2: no message type → not DHCP.
      const wide = clientMessage({ type: DhcpMessageType.Discover });
      wide[DHCP_OPTIONS_OFFSET + 1] = 2;
      expect(send(server, wide)).toBe(true);
      expect(drops(stack, DropReason.Malformed)).toBe(1);
      // Client identifier of length 0.
      expect(send(server, clientMessage({ type: DhcpMessageType.Discover, clientId: [] }))).toBe(true);
      expect(drops(stack, DropReason.BadOption)).toBe(3);
      // Requested IP / server id of the wrong length are ignored as absent: a REQUEST with only a
      // 3-byte option 50 has no address at all.
      expect(send(server, clientMessage({ type: DhcpMessageType.Request, extra: [DhcpOption.RequestedIpAddress, 3, 10, 0, 2] }))).toBe(true);
      expect(drops(stack, DropReason.BadOption)).toBe(4);
      expect(sender.take()).toEqual([]);
    });

    test('relayed (giaddr) and INFORM without ciaddr are dropped', () => {
      const { server, sender, stack } = setup();
      send(server, clientMessage({ type: DhcpMessageType.Discover, giaddr: ip('10.0.2.1') }));
      send(server, clientMessage({ type: DhcpMessageType.Inform }));
      expect(sender.take()).toEqual([]);
      expect(drops(stack, DropReason.NotForUs)).toBe(1);
      expect(drops(stack, DropReason.BadAddress)).toBe(1);
    });

    test('random bytes after a valid cookie never throw', () => {
      const { server, stack } = setup();
      let seed = 7;
      const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      for (let n = 0; n < 2000; n++) {
        const b = clientMessage({ type: 1 + Math.floor(random() * 8) });
        for (let k = DHCP_OPTIONS_OFFSET; k < b.length; k++) if (random() < 0.05) b[k] = Math.floor(random() * 256);
        expect(() => send(server, b.slice(0, Math.floor(random() * b.length) + 1))).not.toThrow();
      }
      expect(stack.stats.totalDrops).toBeGreaterThan(0);
    });
  });

  test('installDhcp registers with the UDP engine and unregisters when the stack closes', () => {
    const ctx = createStackContext();
    const services: UdpService[] = [];
    const sender = new FakeSender();
    const udp = {
      sendToGuest: sender.sendToGuest.bind(sender),
      addUdpService(service: UdpService) {
        services.push(service);
        return () => services.splice(services.indexOf(service), 1);
      },
    };
    const server = installDhcp(ctx.stack, udp);
    expect(services).toEqual([server]);
    send(server, clientMessage({ type: DhcpMessageType.Discover }));
    expect(sender.take()).toHaveLength(1);
    ctx.stack.close();
    expect(services).toEqual([]);
  });
});

describe('DHCP through the UDP engine (frames in, frames out, checked by ip-packet)', () => {
  const CAPTURED_MAC = 0x5254_0012_3456;
  const CAPTURED_MAC_TEXT = '52:54:00:12:34:56';

  /** A client message as a frame: from 0.0.0.0 to the Ethernet and IP broadcast, or unicast from src. */
  function clientFrame(payload: Uint8Array, src = 0, dst = BROADCAST): Uint8Array {
    const udp = udpDatagram({ src, srcPort: 68, dst, dstPort: 67, payload });
    return ipv4Frame(src, dst, 17, udp, { sourceMac: CAPTURED_MAC, destinationMac: dst === BROADCAST ? 0xffff_ffff_ffff : undefined });
  }

  test('captured udhcpc DISCOVER → OFFER broadcast from 10.0.2.2:67; REQUEST → ACK; renewal ACK unicast to the guest MAC; nothing reaches the host', async () => {
    const ctx = createUdpContext();
    context = ctx;
    const server = installDhcp(ctx.stack, ctx.engine);
    const [offerFrame, ...more] = ctx.exchange(VETH_DHCP_DISCOVER);
    expect(more).toEqual([]);
    const frame = decodeIpv4Frame(offerFrame);
    expect(frame.destinationMac).toBe('ff:ff:ff:ff:ff:ff');
    expect(frame.sourceMac).toBe('52:55:0a:00:02:02');
    const offer = decodeUdp(offerFrame);
    expect([offer.src, offer.srcPort, offer.dst, offer.dstPort]).toEqual(['10.0.2.2', 67, '255.255.255.255', 68]);
    const o = decode(offer.payload);
    expect(o.xid).toBe(0x5177750c);
    expect(o.chaddr).toBe(CAPTURED_MAC);
    expect(formatIpv4(o.yiaddr)).toBe('10.0.2.15');

    // udhcpc's REQUEST carries the same client identifier (61: 01 + MAC) as its DISCOVER.
    const clientId = [1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    const request = clientMessage({ type: DhcpMessageType.Request, mac: CAPTURED_MAC, clientId, requested: o.yiaddr, serverId: GATEWAY });
    const [ackFrame] = ctx.exchange(clientFrame(request));
    const ack = decodeUdp(ackFrame);
    expect(ack.dst).toBe('255.255.255.255');
    expect(decode(ack.payload).type).toBe(DhcpMessageType.Ack);
    expect(server.describeLeases()).toEqual([{ address: '10.0.2.15', state: 'bound', key: 'id:01525400123456' }]);

    // RENEWING: unicast from the configured address; the answer goes to that address and MAC.
    const renew = clientMessage({ type: DhcpMessageType.Request, mac: CAPTURED_MAC, clientId, ciaddr: ip('10.0.2.15') });
    const [renewFrame] = ctx.exchange(clientFrame(renew, ip('10.0.2.15'), GATEWAY));
    expect(decodeIpv4Frame(renewFrame).destinationMac).toBe(CAPTURED_MAC_TEXT);
    const renewed = decodeUdp(renewFrame);
    expect([renewed.dst, renewed.dstPort]).toEqual(['10.0.2.15', 68]);
    expect(formatIpv4(decode(renewed.payload).yiaddr)).toBe('10.0.2.15');

    expect(ctx.port.sockets).toHaveLength(0);
    expect(ctx.stack.stats.totalDrops).toBe(0);
  });

  test('malformed DHCP frames are counted once and not forwarded to the host', () => {
    const ctx = createUdpContext();
    context = ctx;
    installDhcp(ctx.stack, ctx.engine);
    const bad = clientMessage({ type: DhcpMessageType.Discover });
    bad[236] ^= 0xff; // magic cookie
    expect(ctx.exchange([clientFrame(bad), clientFrame(bad.slice(0, 100))])).toEqual([]);
    expect(ctx.drops('malformed')).toBe(1);
    expect(ctx.drops('truncated')).toBe(1);
    expect(ctx.port.sockets).toHaveLength(0);
  });
});
