/**
 * Reassembly of IPv6 fragments from the guest (RFC 8200 §4.5), with the same bounds and eviction
 * rule as the IPv4 reassembler (ipv4-reassembly.ts): at most limits.reassemblyBuffers datagrams in
 * progress and limits.reassemblyBytes fragment bytes held in total; a fragment that does not fit
 * evicts the datagrams in progress that started longest ago (counted in `evicted`); a datagram not
 * complete 60 s after its first fragment is forgotten (RFC 8200's reassembly timeout).
 *
 * Overlapping fragments discard the whole datagram (RFC 5722); an exact duplicate is ignored. A
 * fragment's length and offset were checked by walkIpv6Headers (multiples of 8, within 65535).
 * The whole datagram is the first fragment's unfragmentable part (the fixed header and the extension
 * headers before the Fragment header) followed by the fragments' data, with the Fragment header gone:
 * the Next Header byte that named it now names what the fragments carry, the payload length is
 * rewritten. The Stack walks the result again.
 *
 * Fragments are rare on this link (the guest's MTU is ours), so this path may allocate: each held
 * fragment's data is copied, the whole datagram is built once when complete.
 */
import { readUint32, writeUint16 } from '../wire/bytes.js';
import { DropReason } from '../wire/drop-reason.js';
import type { Ipv6HeaderChain } from '../wire/ipv6-extension-headers.js';
import { IPV6_HEADER_LENGTH, type Ipv6Packet } from '../wire/ipv6.js';
import { IPV6_FRAGMENT_HEADER_LENGTH } from '../wire/ipv6-fragment.js';
import type { Clock, TimerHandle } from './clock.js';
import type { ReassemblyLimits } from './ipv4-reassembly.js';

/** RFC 8200 §4.5: 60 seconds after the first-arriving fragment. */
export const IPV6_REASSEMBLY_TIMEOUT_MS = 60_000;
const MAX_PAYLOAD = 65535;

interface Piece {
  start: number;
  end: number;
  data: Uint8Array;
}

interface Pending {
  readonly key: string;
  readonly expiresAt: number;
  /** Sorted by start, never overlapping. */
  readonly pieces: Piece[];
  /** The first fragment's unfragmentable part (its Next Header byte for Fragment already rewritten), once it arrived. */
  header: Uint8Array | undefined;
  /** Length of the fragmentable part, once the last fragment arrived; else -1. */
  total: number;
  held: number;
}

export class Ipv6Reassembler {
  private readonly pending = new Map<string, Pending>();
  private heldBytes = 0;
  private timer: TimerHandle | undefined;
  private completed: Uint8Array | undefined;
  /** Datagrams in progress given up to make room for newer ones. */
  evicted = 0;

  constructor(
    private readonly limits: ReassemblyLimits,
    private readonly clock: Clock,
    private readonly timeoutMs = IPV6_REASSEMBLY_TIMEOUT_MS,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Takes one fragment: ip walked into chain, which stopped at its Fragment header. Returns
   * DropReason.None when accepted; then takeCompleted() gives the whole packet if this one completed it.
   */
  receive(ip: Ipv6Packet, chain: Ipv6HeaderChain): DropReason {
    this.completed = undefined;
    const now = this.clock.now();
    this.expire(now);
    const b = ip.bytes;
    const at = chain.offset;
    const offsetFlags = (b[at + 2] << 8) | b[at + 3];
    const start = offsetFlags & 0xfff8;
    const last = (offsetFlags & 1) === 0;
    const dataAt = at + IPV6_FRAGMENT_HEADER_LENGTH;
    const length = chain.length - IPV6_FRAGMENT_HEADER_LENGTH;
    const end = start + length;
    if (length === 0 && !(last && start === 0)) return DropReason.BadLength;
    const unfragmentable = at - ip.offset;
    if (unfragmentable - IPV6_HEADER_LENGTH + end > MAX_PAYLOAD) return DropReason.BadLength;
    const key = this.keyOf(b, ip.sourceOffset, readUint32(b, at + 4));
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (length > this.limits.reassemblyBytes || this.limits.reassemblyBuffers < 1) return DropReason.ReassemblyLimit;
      while (this.pending.size >= this.limits.reassemblyBuffers || this.heldBytes + length > this.limits.reassemblyBytes) this.evictOldest();
      entry = { key, expiresAt: now + this.timeoutMs, pieces: [], header: undefined, total: -1, held: 0 };
      this.pending.set(key, entry);
      this.arm();
    }
    if (last) {
      if ((entry.total !== -1 && entry.total !== end) || (entry.pieces.length > 0 && entry.pieces[entry.pieces.length - 1].end > end)) {
        this.discard(entry);
        return DropReason.Malformed;
      }
      entry.total = end;
    } else if (entry.total !== -1 && end > entry.total) {
      this.discard(entry);
      return DropReason.Malformed;
    }
    const pieces = entry.pieces;
    let index = 0;
    while (index < pieces.length && pieces[index].start < start) index++;
    const before = index > 0 ? pieces[index - 1] : undefined;
    const after = index < pieces.length ? pieces[index] : undefined;
    if (after !== undefined && after.start === start && after.end === end) return DropReason.None;
    if ((before !== undefined && before.end > start) || (after !== undefined && after.start < end)) {
      this.discard(entry);
      return DropReason.FragmentOverlap;
    }
    while (this.heldBytes + length > this.limits.reassemblyBytes) {
      const oldest = this.pending.values().next().value;
      if (oldest === undefined || oldest === entry) {
        this.discard(entry);
        return DropReason.ReassemblyLimit;
      }
      this.evictOldest();
    }
    pieces.splice(index, 0, { start, end, data: b.slice(dataAt, dataAt + length) });
    entry.held += length;
    this.heldBytes += length;
    if (start === 0) {
      const header = b.slice(ip.offset, at);
      // What named the Fragment header now names what the fragments carry.
      header[chain.protocolFieldOffset - ip.offset] = b[at];
      entry.header = header;
    }
    if (entry.total !== -1 && entry.header !== undefined && entry.held === entry.total) this.complete(entry);
    return DropReason.None;
  }

  /** The packet the last receive() completed (a new buffer), once. */
  takeCompleted(): Uint8Array | undefined {
    const whole = this.completed;
    this.completed = undefined;
    return whole;
  }

  clear(): void {
    for (const entry of [...this.pending.values()]) this.discard(entry);
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** Source, destination and identification (RFC 8200 §4.5) as a key. */
  private keyOf(b: Uint8Array, addresses: number, identification: number): string {
    let key = `${identification}`;
    for (let i = 0; i < 32; i += 4) key += `:${readUint32(b, addresses + i)}`;
    return key;
  }

  private complete(entry: Pending): void {
    const header = entry.header!;
    const whole = new Uint8Array(header.length + entry.total);
    whole.set(header, 0);
    for (const piece of entry.pieces) whole.set(piece.data, header.length + piece.start);
    writeUint16(whole, 4, whole.length - IPV6_HEADER_LENGTH);
    this.discard(entry);
    this.completed = whole;
  }

  private evictOldest(): void {
    const oldest = this.pending.values().next().value;
    if (oldest === undefined) return;
    this.discard(oldest);
    this.evicted++;
  }

  private discard(entry: Pending): void {
    if (!this.pending.delete(entry.key)) return;
    this.heldBytes -= entry.held;
  }

  private expire(now: number): void {
    for (const entry of this.pending.values()) {
      if (entry.expiresAt > now) break;
      this.discard(entry);
    }
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.expire(this.clock.now());
      if (this.pending.size > 0) this.arm();
    }, this.timeoutMs);
  }
}
