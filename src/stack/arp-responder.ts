/**
 * ARP on the guest network: answers requests for the gateway and DNS addresses with our MAC, learns
 * the guest's address from every request and reply it sends, and asks the guest for its MAC when we
 * must send to an unresolved address. Never throws on guest input.
 */
import { BROADCAST_MAC } from '../wire/bytes.js';
import { DropReason } from '../wire/drop-reason.js';
import { ArpOperation, ArpPacket, ARP_LENGTH, writeArp } from '../wire/arp.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../wire/ethernet.js';
import { isInNetwork, type NetworkConfig } from './config.js';
import type { NeighborTable } from './neighbor-table.js';
import type { FrameTransmitter } from './frame-transmitter.js';

/** Ethernet frames are at least 60 bytes before the FCS; ARP is shorter, so pad. */
const MIN_FRAME_LENGTH = 60;

export class ArpResponder {
  private readonly view = new ArpPacket();
  private readonly frame = new Uint8Array(Math.max(MIN_FRAME_LENGTH, ETHERNET_HEADER_LENGTH + ARP_LENGTH));
  /** The sender address of the last ARP packet taken (its MAC is now known), or -1. */
  lastSender = -1;

  constructor(
    private readonly transmitter: FrameTransmitter,
    private readonly config: NetworkConfig,
    private readonly neighbors: NeighborTable,
  ) {}

  receive(bytes: Uint8Array, offset: number, length: number, ethernetSource: number): DropReason {
    const arp = this.view;
    this.lastSender = -1;
    const reason = arp.wrap(bytes, offset, length);
    if (reason !== DropReason.None) return reason;
    const senderIp = arp.senderIp;
    // Learn from any ARP the guest sends about itself (requests, replies, gratuitous); 0.0.0.0 is a probe.
    if (senderIp !== 0 && isInNetwork(this.config, senderIp) && senderIp !== this.config.ipv4.gateway && senderIp !== this.config.ipv4.dns) {
      this.neighbors.learn(senderIp, arp.senderMac);
      this.lastSender = senderIp;
    }
    if (arp.operation !== ArpOperation.Request) return DropReason.None;
    const target = arp.targetIp;
    if (target !== this.config.ipv4.gateway && target !== this.config.ipv4.dns) {
      // Not ours: the guest probing for a duplicate of its own address, or for a neighbour that does not exist.
      return senderIp === 0 || target === senderIp ? DropReason.None : DropReason.NotForUs;
    }
    this.send(ArpOperation.Reply, target, ethernetSource, arp.senderMac, senderIp);
    return DropReason.None;
  }

  /** Broadcasts "who has address? tell gateway". */
  request(address: number): void {
    this.send(ArpOperation.Request, this.config.ipv4.gateway, BROADCAST_MAC, 0, address);
  }

  private send(operation: number, senderIp: number, ethernetDestination: number, targetMac: number, targetIp: number): void {
    const frame = this.frame;
    frame.fill(0);
    writeEthernetHeader(frame, 0, ethernetDestination, this.config.gatewayMac, EtherType.Arp);
    writeArp(frame, ETHERNET_HEADER_LENGTH, operation, this.config.gatewayMac, senderIp, targetMac, targetIp);
    this.transmitter.transmit(frame, null);
  }
}
