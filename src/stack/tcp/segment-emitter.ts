/**
 * Builds and sends one TCP segment to the guest: header and options written into the scratch head of
 * the flow's IpOutput (its address family), payload passed as the Link body (a view into the flow's
 * send queue, never copied here). With link offloads, super-segments carry a GSO size (of the family's
 * GSO type) and the checksum is left partial; without them the checksum is computed in one pass over
 * header and payload. Knows no IP version: header length, MSS and pseudo-header come from the output.
 */
import type { TxInfo } from '../../link/link.js';
import { IpProtocol } from '../../wire/ipv4.js';
import {
  fillTcpChecksum,
  fillTcpPseudoChecksum,
  TCP_CHECKSUM_OFFSET,
  TCP_HEADER_LENGTH,
  TCP_SYN,
  writeMssOption,
  writeSackOption,
  writeSackPermittedOption,
  writeTcpHeader,
  writeTimestampOption,
  writeWindowScaleOption,
} from '../../wire/tcp.js';
import type { IpOutput } from '../ip-output.js';
import type { Link } from '../../link/link.js';
import type { Flow } from './flow.js';

export class SegmentEmitter {
  private readonly info: TxInfo = { gsoSize: 0, gsoIpv6: false, headerLength: 0, checksumStart: 0, checksumOffset: 0 };
  private readonly sackEdges = new Uint32Array(8);
  private readonly checksumOffload: boolean;

  constructor(
    link: Link,
    private readonly now: () => number,
  ) {
    this.checksumOffload = link.offloads.txChecksumOffload;
  }

  /**
   * Sends flags (+ payload) at seq. The ACK number, window and options come from the flow.
   * gsoSize > 0 marks a super-segment the link will cut into gsoSize pieces.
   */
  send(flow: Flow, seq: number, flags: number, payload: Uint8Array | null, window: number, gsoSize = 0): void {
    const output = flow.output;
    const head = output.head;
    const l4 = output.l4Offset;
    const syn = (flags & TCP_SYN) !== 0;
    let optionsLength = 0;
    let sackCount = 0;
    if (syn) {
      // A SYN-ACK carries only what the guest's SYN offered (RFC 7323 §1.3, RFC 2018); a SYN offers all.
      optionsLength = 4 + (flow.receiveWindowShift > 0 ? 4 : 0) + (flow.sackPermitted ? 4 : 0) + (flow.timestamps ? 12 : 0);
    } else {
      if (flow.timestamps) optionsLength += 12;
      if (flow.sackPermitted && !flow.reorder.isEmpty) {
        sackCount = flow.reorder.sackBlocks(this.sackEdges, flow.timestamps ? 3 : 4);
        optionsLength += 4 + 8 * sackCount;
      }
    }
    const ackNumber = flow.receiveNext;
    let at = writeTcpHeader(head, l4, flow.remotePort, flow.guestPort, seq, ackNumber, flags, window, optionsLength);
    if (syn) {
      at = writeMssOption(head, at, output.tcpMss);
      if (flow.receiveWindowShift > 0) at = writeWindowScaleOption(head, at, flow.receiveWindowShift);
      if (flow.sackPermitted) at = writeSackPermittedOption(head, at);
      if (flow.timestamps) at = writeTimestampOption(head, at, this.timestamp(), flow.tsRecent);
    } else {
      if (flow.timestamps) at = writeTimestampOption(head, at, this.timestamp(), flow.tsRecent);
      if (sackCount > 0) at = writeSackOption(head, at, this.sackEdges, sackCount);
    }
    const headerLength = TCP_HEADER_LENGTH + optionsLength;
    const source = flow.remoteAddress;
    const destination = flow.guestAddress;
    const payloadLength = payload?.length ?? 0;
    const info = this.info;
    const pseudoHeaderSum = output.pseudoHeaderSum(source, destination, IpProtocol.Tcp, headerLength + payloadLength);
    if (this.checksumOffload) {
      fillTcpPseudoChecksum(head, l4, pseudoHeaderSum);
      info.checksumStart = l4;
      info.checksumOffset = TCP_CHECKSUM_OFFSET;
    } else {
      fillTcpChecksum(head, l4, headerLength, payload, pseudoHeaderSum);
      info.checksumStart = 0;
      info.checksumOffset = 0;
    }
    info.gsoSize = gsoSize > 0 && payloadLength > gsoSize ? gsoSize : 0;
    info.gsoIpv6 = output.gsoIpv6;
    info.headerLength = l4 + headerLength;
    output.send(source, destination, IpProtocol.Tcp, headerLength, payload, info);
  }

  /** A bare RST (or RST|ACK) answering a segment that has no flow, through the output of its family. */
  sendReset(
    output: IpOutput,
    source: number,
    sourcePort: number,
    destination: number,
    destinationPort: number,
    seq: number,
    ack: number,
    flags: number,
  ): void {
    const head = output.head;
    const l4 = output.l4Offset;
    writeTcpHeader(head, l4, sourcePort, destinationPort, seq, ack, flags, 0, 0);
    fillTcpChecksum(head, l4, TCP_HEADER_LENGTH, null, output.pseudoHeaderSum(source, destination, IpProtocol.Tcp, TCP_HEADER_LENGTH));
    output.send(source, destination, IpProtocol.Tcp, TCP_HEADER_LENGTH, null);
  }

  /** Room for payload in a segment of this flow after its options (timestamps). */
  optionOverhead(flow: Flow): number {
    return flow.timestamps ? 12 : 0;
  }

  private timestamp(): number {
    return Math.floor(this.now()) >>> 0;
  }
}
