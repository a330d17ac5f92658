/**
 * Counters the engine keeps: plain numbers and one Uint32Array of drops indexed by DropReason, so
 * counting costs an increment. snapshot() turns them into a JSON-friendly object for the API/CLI.
 */
import { DROP_REASON_COUNT, DropReason, dropReasonName } from '../wire/drop-reason.js';

export class StackStats {
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Exceptions of our own caught and contained (FaultLog): each a dropped frame or a reset flow. */
  faults = 0;
  /** With IPv6 on (-6): IPv6 frames from the guest (of framesIn) and to it (of framesOut). */
  ipv6Enabled = false;
  ipv6FramesIn = 0;
  ipv6FramesOut = 0;
  /** Multicast Listener Discovery messages from the guest (of ipv6FramesIn), accepted and ignored. */
  mldIn = 0;
  /** IGMP messages from the guest, accepted and ignored (the IPv4 twin of mldIn). */
  igmpIn = 0;
  /** ICMP errors sent to the guest (icmp-errors.ts), and those its rate limit held back. */
  icmpErrorsSent = 0;
  icmpErrorsRateLimited = 0;
  readonly drops = new Float64Array(DROP_REASON_COUNT);

  drop(reason: DropReason): void {
    this.drops[reason]++;
  }

  get totalDrops(): number {
    let total = 0;
    for (let i = 1; i < this.drops.length; i++) total += this.drops[i];
    return total;
  }

  snapshot(): StatsSnapshot {
    const drops: Record<string, number> = {};
    for (let i = 1; i < this.drops.length; i++) if (this.drops[i] > 0) drops[dropReasonName(i)] = this.drops[i];
    const snapshot: StatsSnapshot = { framesIn: this.framesIn, bytesIn: this.bytesIn, framesOut: this.framesOut, bytesOut: this.bytesOut, faults: this.faults, drops };
    if (this.ipv6Enabled) {
      snapshot.ipv6FramesIn = this.ipv6FramesIn;
      snapshot.ipv6FramesOut = this.ipv6FramesOut;
      snapshot.mldIn = this.mldIn;
    }
    if (this.igmpIn > 0) snapshot.igmpIn = this.igmpIn;
    if (this.icmpErrorsSent > 0 || this.icmpErrorsRateLimited > 0) {
      snapshot.icmpErrorsSent = this.icmpErrorsSent;
      snapshot.icmpErrorsRateLimited = this.icmpErrorsRateLimited;
    }
    return snapshot;
  }
}

export interface StatsSnapshot {
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  faults: number;
  drops: Record<string, number>;
  /** Present with IPv6 on. */
  ipv6FramesIn?: number;
  ipv6FramesOut?: number;
  mldIn?: number;
  /** Present once the guest sent IGMP. */
  igmpIn?: number;
  /** Present once an ICMP error was sent or held back. */
  icmpErrorsSent?: number;
  icmpErrorsRateLimited?: number;
  [extra: string]: unknown;
}
