/**
 * The output seam: what a transport needs to send an IP packet to the guest, per address family.
 * A transport asks the stack for the output of its destination's family (Stack.outputFor), writes its
 * L4 header into that output's scratch `head` at `l4Offset`, fills the checksum with the output's
 * pseudo-header sum (fillTcpChecksum/fillUdpChecksum in src/wire take it), and calls send() (or
 * sendFragmentable() for datagrams that may exceed the MTU). The family's header length, MSS, GSO
 * type and fragmentation live behind this interface, so TCP, UDP and ICMP code is the same for both.
 *
 * Frames leave through the FrameTransmitter, which flushes them (nobody else does).
 */
import type { TxInfo } from '../link/link.js';
import type { IpFamily } from '../wire/ip-address.js';

export interface IpOutput {
  readonly family: IpFamily;
  /** Header scratch, shared by every sender of this family: valid until send() returns. */
  readonly head: Uint8Array;
  /** Where the L4 header goes in head: after Ethernet and this family's IP header. */
  readonly l4Offset: number;
  /** The MSS we advertise and cut segments to at most: MTU less this family's IP and TCP headers. */
  readonly tcpMss: number;
  /** The largest L4 packet (header + payload) one IP packet of this family carries, fragmented or not. */
  readonly maxL4Length: number;
  /** TxInfo.gsoIpv6 for TCP super-segments of this family (virtio GSO type TCPV4 or TCPV6). */
  readonly gsoIpv6: boolean;

  /** The running pseudo-header sum (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1) for an L4 packet of l4Length bytes. */
  pseudoHeaderSum(source: number, destination: number, protocol: number, l4Length: number): number;

  /**
   * Sends one IP packet: the L4 header already at head[l4Offset, +l4HeaderLength), payload in body
   * (lent to the Link during the call). Returns false when it could not go out now (no route, or it
   * waits for the guest's link-layer address).
   */
  send(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null, info?: TxInfo): boolean;

  /**
   * As send(), cut into fragments when larger than the MTU (datagrams: UDP, ICMP). Returns the frames
   * sent, 0 when the packet exceeds maxL4Length (the caller counts the drop).
   */
  sendFragmentable(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null): number;

  /**
   * Sends a frame whose IP header is already written after the Ethernet header (one that waited for
   * the destination's MAC in the neighbour table); fills in Ethernet. Returns false if it waits again.
   */
  sendFrame(destination: number, head: Uint8Array, body: Uint8Array | null, info?: TxInfo): boolean;

  /**
   * Writes this family's IP header for an L4 packet of l4Length bytes at buf[offset] (no options, no
   * extension headers); returns the offset after it. For quotes of packets no longer held (ICMP errors).
   */
  writeIpHeader(buf: Uint8Array, offset: number, source: number, destination: number, protocol: number, l4Length: number): number;
}
