/**
 * The README's library example (section "Library"), run as written so the docs cannot rot: the
 * README's code block must equal the part of this file between the two markers, with the import
 * path `../src/index.js` spelled `tslirp` there. It imports only the public surface (src/index.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// --- README example starts here ---
import { createSocket } from 'node:dgram';
import { expect, test } from 'vitest';
import {
  ArpOperation,
  ArpPacket,
  BROADCAST_MAC,
  DropReason,
  ETHERNET_HEADER_LENGTH,
  EtherType,
  EthernetFrame,
  FakeClock,
  HostAddressMap,
  IPV4_HEADER_LENGTH,
  IpProtocol,
  Ipv4Packet,
  MemoryLink,
  Stack,
  TCP_ACK,
  TCP_HEADER_LENGTH,
  TCP_SYN,
  TcpSegment,
  UDP_HEADER_LENGTH,
  UdpPacket,
  createEngine,
  fillTcpChecksumIpv4,
  formatIpv4,
  formatMac,
  installTcp,
  parseIpv4,
  parseMac,
  writeArp,
  writeEthernetHeader,
  writeIpv4Header,
  writeMssOption,
  writeTcpHeader,
  writeUdpHeaderIpv4,
  type HostEndpoint,
  type HostStreamEvents,
  type HostTcpPort,
} from '../src/index.js';

const guestMac = parseMac('02:00:00:00:01:00')!;
const guestIp = parseIpv4('10.0.2.100')!;
const gatewayIp = parseIpv4('10.0.2.2')!;

/** Ethernet + IPv4 + TCP SYN (with an MSS option) from the guest, checksums filled. */
function tcpSyn(destinationMac: number, sourcePort: number, destinationPort: number, sequence: number): Uint8Array {
  const tcpLength = TCP_HEADER_LENGTH + 4;
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  const ip = writeEthernetHeader(frame, 0, destinationMac, guestMac, EtherType.Ipv4);
  const tcp = writeIpv4Header(frame, ip, guestIp, gatewayIp, IpProtocol.Tcp, tcpLength);
  writeMssOption(frame, writeTcpHeader(frame, tcp, sourcePort, destinationPort, sequence, 0, TCP_SYN, 64240, 4), 1460);
  fillTcpChecksumIpv4(frame, tcp, tcpLength, guestIp, gatewayIp, null);
  return frame;
}

test('ARP for the gateway, then a TCP SYN to 10.0.2.2:80 answered once the (fake) host connects', async () => {
  const link = new MemoryLink();
  const stack = new Stack(link, { clock: new FakeClock() }); // slirp4netns defaults: 10.0.2.0/24
  // A fake host: records where the engine connects and lets the test decide when it succeeds.
  const connects: HostEndpoint[] = [];
  let host: HostStreamEvents | undefined;
  const hostPort: HostTcpPort = {
    connect(endpoint, events) {
      connects.push(endpoint);
      host = events;
      return { write() {}, pendingWriteBytes: 0, end() {}, reset() {}, destroy() {}, pause() {}, resume() {} };
    },
  };
  installTcp(stack, { hostPort, addressMap: new HostAddressMap(stack.config) });
  stack.start();

  // The guest asks who has 10.0.2.2 and gets the gateway's MAC.
  const request = new Uint8Array(60);
  writeEthernetHeader(request, 0, BROADCAST_MAC, guestMac, EtherType.Arp);
  writeArp(request, ETHERNET_HEADER_LENGTH, ArpOperation.Request, guestMac, guestIp, 0, gatewayIp);
  link.inject(request);
  const [reply] = link.take();
  const arp = new ArpPacket();
  expect(arp.wrap(reply, ETHERNET_HEADER_LENGTH, reply.length - ETHERNET_HEADER_LENGTH)).toBe(DropReason.None);
  expect(arp.operation).toBe(ArpOperation.Reply);
  expect(formatMac(arp.senderMac)).toBe('52:55:0a:00:02:02');

  // SYN to the gateway's port 80: the engine connects to the host's loopback first, and answers
  // nothing until that connection is up.
  link.inject(tcpSyn(arp.senderMac, 40000, 80, 1000));
  expect(connects).toEqual([{ address: '127.0.0.1', port: 80 }]);
  expect(link.take()).toEqual([]);
  host!.onConnect();
  await Promise.resolve(); // frames made outside a received batch are flushed at the end of the tick

  const [synAck] = link.take();
  const ethernet = new EthernetFrame();
  const ipv4 = new Ipv4Packet();
  const tcp = new TcpSegment();
  expect(ethernet.wrap(synAck, 0, synAck.length)).toBe(DropReason.None);
  expect(ipv4.wrap(synAck, ethernet.payloadOffset, ethernet.payloadLength)).toBe(DropReason.None);
  expect(formatIpv4(ipv4.source)).toBe('10.0.2.2');
  expect(tcp.wrap(synAck, ipv4.payloadOffset, ipv4.payloadLength)).toBe(DropReason.None);
  expect(tcp.flags & (TCP_SYN | TCP_ACK)).toBe(TCP_SYN | TCP_ACK);
  expect(tcp.sourcePort).toBe(80);
  expect(tcp.destinationPort).toBe(40000);
  expect(tcp.acknowledgment).toBe(1001);
  expect(tcp.verifyChecksumIpv4(ipv4.source, ipv4.destination)).toBe(true);
  stack.close();
});

test('the assembled engine (TCP, UDP, DHCP, DNS, ICMP on real host sockets): a guest datagram to 10.0.2.2 reaches the host loopback and its answer comes back', async () => {
  // A UDP server on the host's loopback that answers in capitals.
  const server = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  server.on('message', (message, from) => server.send(message.toString().toUpperCase(), from.port, from.address));

  const link = new MemoryLink();
  const engine = await createEngine(link); // what `tslirp` runs on its TAP; real time, real sockets
  engine.start();
  const answered = new Promise<Uint8Array>((resolve) => (link.onTransmit = (frames) => resolve(frames[0])));

  const payload = new TextEncoder().encode('hello');
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH + payload.length);
  const ip = writeEthernetHeader(frame, 0, parseMac('52:55:0a:00:02:02')!, guestMac, EtherType.Ipv4);
  const udp = writeIpv4Header(frame, ip, guestIp, gatewayIp, IpProtocol.Udp, UDP_HEADER_LENGTH + payload.length);
  frame.set(payload, writeUdpHeaderIpv4(frame, udp, guestIp, 5000, gatewayIp, server.address().port, payload));
  link.inject(frame);

  const answer = await answered;
  const ipv4 = new Ipv4Packet();
  const datagram = new UdpPacket();
  expect(ipv4.wrap(answer, ETHERNET_HEADER_LENGTH, answer.length - ETHERNET_HEADER_LENGTH)).toBe(DropReason.None);
  expect(datagram.wrap(answer, ipv4.payloadOffset, ipv4.payloadLength)).toBe(DropReason.None);
  expect(formatIpv4(ipv4.source)).toBe('10.0.2.2');
  expect(datagram.sourcePort).toBe(server.address().port);
  expect(new TextDecoder().decode(answer.subarray(datagram.payloadOffset, datagram.payloadOffset + datagram.payloadLength))).toBe('HELLO');
  expect(engine.stats.udpBindings?.()).toBe(1);
  await engine.close();
  server.close();
});
// --- README example ends here ---

test('the README shows exactly this example', () => {
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const example = self
    .slice(self.indexOf('// --- README example starts here ---\n') + 38, self.indexOf('// --- README example ends here ---'))
    .replace("from '../src/index.js'", "from 'tslirp'")
    .trim();
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const block = /## Library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]?.trim();
  expect(block).toBe(example);
});
