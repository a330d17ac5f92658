/**
 * tslirp as a library: run the engine on any Link (a TAP device, or a MemoryLink in tests and other
 * programs), whole (createEngine) or part by part on a Stack, on real or fake time, and read its stats. Only this surface is public; everything else
 * under src/ is internal and may change.
 */

// The assembled engine, as the command lines run it: on any Link, TCP, UDP, DHCP, the DNS relay and
// ICMP echo forwarding on real host sockets, the published-port table and the get_stats counters.
export { createEngine, type Engine, type EngineOptions } from './engine/engine.js';
export type { HostfwdControl, HostfwdEntry, HostfwdProto, HostfwdRequest } from './hostfwd/hostfwd-control.js';
export { collectStats, type StatsReport, type StatsSource } from './api/stats-request.js';

// The engine's parts, for a Stack of your own: each transport on a host-socket port you provide
// (fake it in tests; the Node* ports use real sockets).
export { Stack, type StackOptions, type BatchObserver } from './stack/stack.js';
export type { IpDatagram, IpReceiver } from './stack/ip-datagram.js';
export type { IpOutput } from './stack/ip-output.js';
export { resolveNetworkConfig, type NetworkConfig, type NetworkConfigInput, type Limits } from './stack/config.js';
export { FakeClock, SystemClock, type Clock, type TimerHandle } from './stack/clock.js';
export { SeededRandom, SystemRandom, type RandomSource } from './stack/random.js';
export type { StatsSnapshot } from './stack/stats.js';
export { MemoryLink, type MemoryLinkOptions } from './link/memory-link.js';
export {
  FRAME_CHECKSUM_PARTIAL,
  FRAME_CHECKSUM_VALID,
  NO_OFFLOADS,
  type FrameBatch,
  type FrameSink,
  type Link,
  type LinkOffloads,
  type TxInfo,
} from './link/link.js';
export { DropReason, dropReasonName } from './wire/drop-reason.js';
export { formatMac, parseMac } from './wire/bytes.js';
export { formatIpv4, parseIpv4 } from './wire/ip-address.js';

// Capture: tee any Link into a pcap file (what `--pcap` uses).
export { PcapLink, PCAP_SNAPLEN, type PcapLinkOptions, type PcapStats } from './link/pcap-link.js';

// Wire codecs for packet-level tests: build frames as a guest would, read what the engine sends.
export { BROADCAST_MAC } from './wire/bytes.js';
export { ETHERNET_HEADER_LENGTH, EtherType, EthernetFrame, writeEthernetHeader } from './wire/ethernet.js';
export { ARP_LENGTH, ArpOperation, ArpPacket, writeArp } from './wire/arp.js';
export { IPV4_HEADER_LENGTH, IpProtocol, Ipv4Packet, writeIpv4Header } from './wire/ipv4.js';
export { UDP_HEADER_LENGTH, UdpPacket, fillUdpChecksumIpv4, writeUdpHeader, writeUdpHeaderIpv4 } from './wire/udp.js';
export { ICMPV4_HEADER_LENGTH, Icmpv4Type, Icmpv4Packet, writeIcmpv4Echo } from './wire/icmpv4.js';
export {
  TCP_ACK,
  TCP_FIN,
  TCP_HEADER_LENGTH,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpOptions,
  TcpSegment,
  fillTcpChecksumIpv4,
  parseTcpOptions,
  writeMssOption,
  writeTcpHeader,
} from './wire/tcp.js';

// TCP: the engine, the host-socket port it calls (fake it in tests; NodeTcpPort uses real sockets),
// and the map from guest destinations to host endpoints (10.0.2.2 → host loopback, 10.0.2.3 → DNS).
export { installTcp, type TcpEngine, type TcpEngineOptions } from './stack/tcp/tcp-engine.js';
export { HostConnectError, type HostStream, type HostStreamEvents, type HostStreamFactory, type HostTcpPort } from './stack/tcp/host-tcp-port.js';
export { HostAddressMap, Refusal, type DnsUpstream, type HostEndpoint } from './stack/host-address-map.js';
export { NodeTcpPort } from './host/node-tcp-port.js';
export { NativeTcpPort } from './host/native-tcp-port.js';

// UDP (bindings, services such as DHCP), the DNS relay's upstream choice, ICMP echo forwarding.
export { installUdp, type UdpEngine, type UdpEngineOptions } from './stack/udp/udp-engine.js';
export type { HostUdpPort, HostUdpSocket, HostUdpSocketEvents } from './stack/udp/host-udp-port.js';
export type { UdpGuestSender, UdpService } from './stack/udp/udp-service.js';
export { installDhcp, type DhcpServer, type DhcpServerOptions, type UdpServiceHost } from './stack/services/dhcp-server.js';
export { createDnsUpstream, type DnsUpstreamOptions } from './stack/services/dns-upstream.js';
export { installIcmpForward, type IcmpForwarder, type IcmpForwarderOptions } from './stack/icmp-forward.js';
export type { HostIcmpPort, HostIcmpSocket, HostIcmpSocketEvents } from './stack/host-icmp-port.js';
export { NodeUdpPort } from './host/node-udp-port.js';
export { NativeUdpPort } from './host/native-udp-port.js';
export { NodeIcmpPort } from './host/node-icmp-port.js';
