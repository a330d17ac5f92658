/**
 * Addresses as table keys, for both families: every table of the engine (TCP flows, UDP bindings,
 * neighbours, echo sessions, published-port mappings) keys an address by one number. An IPv4
 * address is its uint32 (below 2^32); an IPv6 address is a handle at or above 2^32 that an
 * Ipv6AddressTable hands out for it (interned: one handle per distinct address while in use). An
 * endpoint key, address · 2^16 + port, stays below 2^53 for both, so it is an exact Map key.
 *
 * The table is bounded (a newcomer beyond capacity gets no handle: the caller drops it, counted) and
 * reference-counted (a handle lives while a flow, binding or neighbour holds it, then its slot is
 * reused). find() never allocates: a seeded hash of the address's four words (the wire's ipv6Hash,
 * computed on the words already read; guests choose their addresses, so the seed should be random)
 * picks a chain, entries are compared in full. Measured in bench/address-keys.bench.ts.
 */
import { readUint32, writeUint32 } from '../wire/bytes.js';
import { formatIpv4, parseIpv4OrMapped } from '../wire/ip-address.js';
import { formatIpv6, parseIpv6Into } from '../wire/ipv6-address.js';

/** The first IPv6 handle: every IPv4 address is below it. */
export const IPV6_HANDLE_BASE = 0x1_0000_0000;

/** True for an IPv6 handle, false for an IPv4 address. */
export function isIpv6Handle(address: number): boolean {
  return address >= IPV6_HANDLE_BASE;
}

/** The numeric key of (address, port) for either family: address · 2^16 + port, exact below 2^53. */
export function endpointKey(address: number, port: number): number {
  return address * 0x10000 + port;
}

const NO_SLOT = -1;

export class Ipv6AddressTable {
  /** Four big-endian words per slot. */
  private readonly words: Uint32Array;
  private readonly references: Uint32Array;
  /** Each slot's hash, to unlink it from its chain on release. */
  private readonly hashes: Uint32Array;
  /** Next slot in a bucket's chain, or in the free list. */
  private readonly next: Int32Array;
  private readonly buckets: Int32Array;
  private readonly bucketMask: number;
  /** Released slots, reused first; NO_SLOT when none. */
  private freeHead = NO_SLOT;
  /** Slots handed out at least once (the rest were never touched: no free list through them). */
  private used = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    /** Seeds the hash (pass a random one: a guest must not be able to lengthen chains at will). */
    private readonly seed = 0,
  ) {
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= 1 << 24)) throw new Error(`invalid IPv6 address table capacity ${capacity}`);
    this.words = new Uint32Array(capacity * 4);
    this.references = new Uint32Array(capacity);
    this.hashes = new Uint32Array(capacity);
    // No loop over the slots here: pages never written stay out of the resident set (32768 slots
    // are ~1 MB), and a start-up loop of that length woke V8's optimizing compiler (3.5 MB of its
    // code resident) in a process that may never see an IPv6 packet.
    this.next = new Int32Array(capacity);
    let buckets = 1;
    while (buckets < capacity) buckets <<= 1;
    this.buckets = new Int32Array(buckets).fill(NO_SLOT);
    this.bucketMask = buckets - 1;
  }

  /** Addresses held. */
  get size(): number {
    return this.count;
  }

  /** The handle of the address at bytes[offset, +16) if it is held, else -1. Never allocates. */
  find(bytes: Uint8Array, offset: number): number {
    const w0 = readUint32(bytes, offset);
    const w1 = readUint32(bytes, offset + 4);
    const w2 = readUint32(bytes, offset + 8);
    const w3 = readUint32(bytes, offset + 12);
    const slot = this.findSlot(w0, w1, w2, w3, hashWords(w0, w1, w2, w3, this.seed) & this.bucketMask);
    return slot === NO_SLOT ? -1 : IPV6_HANDLE_BASE + slot;
  }

  /**
   * The handle of the address at bytes[offset, +16), held once more (release it when done); -1 when
   * the table is full and the address is not in it.
   */
  intern(bytes: Uint8Array, offset: number): number {
    const w0 = readUint32(bytes, offset);
    const w1 = readUint32(bytes, offset + 4);
    const w2 = readUint32(bytes, offset + 8);
    const w3 = readUint32(bytes, offset + 12);
    const hash = hashWords(w0, w1, w2, w3, this.seed);
    const bucket = hash & this.bucketMask;
    let slot = this.findSlot(w0, w1, w2, w3, bucket);
    if (slot === NO_SLOT) {
      slot = this.freeHead;
      if (slot !== NO_SLOT) this.freeHead = this.next[slot];
      else if (this.used < this.capacity) slot = this.used++;
      else return -1;
      const at = slot * 4;
      this.words[at] = w0;
      this.words[at + 1] = w1;
      this.words[at + 2] = w2;
      this.words[at + 3] = w3;
      this.hashes[slot] = hash;
      this.next[slot] = this.buckets[bucket];
      this.buckets[bucket] = slot;
      this.count++;
    }
    this.references[slot]++;
    return IPV6_HANDLE_BASE + slot;
  }

  /** Holds a handle once more. */
  retain(handle: number): void {
    this.references[this.slotOf(handle)]++;
  }

  /** Lets go of a handle once; the address is forgotten when nothing holds it any more. */
  release(handle: number): void {
    const slot = this.slotOf(handle);
    if (this.references[slot] === 0) throw new Error(`IPv6 handle ${handle} released more often than held`);
    if (--this.references[slot] > 0) return;
    const bucket = this.hashes[slot] & this.bucketMask;
    if (this.buckets[bucket] === slot) {
      this.buckets[bucket] = this.next[slot];
    } else {
      let previous = this.buckets[bucket];
      while (this.next[previous] !== slot) previous = this.next[previous];
      this.next[previous] = this.next[slot];
    }
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
    this.count--;
  }

  /** Writes the 16 bytes of a handle's address at buf[offset]. */
  write(handle: number, buf: Uint8Array, offset: number): void {
    const at = this.slotOf(handle) * 4;
    for (let i = 0; i < 4; i++) writeUint32(buf, offset + 4 * i, this.words[at + i]);
  }

  /** The address of a handle as text (RFC 5952; allocates: logs, host sockets, tests). */
  format(handle: number): string {
    const bytes = new Uint8Array(16);
    this.write(handle, bytes, 0);
    return formatIpv6(bytes);
  }

  private findSlot(w0: number, w1: number, w2: number, w3: number, bucket: number): number {
    const words = this.words;
    for (let slot = this.buckets[bucket]; slot !== NO_SLOT; slot = this.next[slot]) {
      const at = slot * 4;
      if (words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) return slot;
    }
    return NO_SLOT;
  }

  private slotOf(handle: number): number {
    const slot = handle - IPV6_HANDLE_BASE;
    if (!(slot >= 0 && slot < this.capacity && this.references[slot] > 0)) throw new Error(`not a held IPv6 handle: ${handle}`);
    return slot;
  }
}

/** ipv6Hash (src/wire/ipv6-address.ts) of an address given as its four words: the same value. */
export function hashWords(w0: number, w1: number, w2: number, w3: number, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  h = Math.imul(h ^ w0, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ w1, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ w2, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ w3, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The engine's addresses of both families behind one number type, for the code that must not care
 * which: IPv4 addresses pass through as themselves, IPv6 ones are handles of one Ipv6AddressTable.
 * retain/release are no-ops for IPv4, so a flow or binding holds whatever address it keys by the
 * same way. Text in and out allocates (host sockets, published ports, logs): never per packet.
 */
export class IpAddresses {
  readonly ipv6: Ipv6AddressTable;
  private readonly scratch = new Uint8Array(16);

  constructor(ipv6Capacity: number, seed: number) {
    this.ipv6 = new Ipv6AddressTable(ipv6Capacity, seed);
  }

  /** The handle of the IPv6 address at bytes[offset, +16), held once more; -1 when the table is full. */
  intern6(bytes: Uint8Array, offset: number): number {
    return this.ipv6.intern(bytes, offset);
  }

  /**
   * Numeric text of either family as an engine address, held once (release it): IPv4 and
   * IPv4-mapped IPv6 ("::ffff:10.0.2.2") as the uint32, other IPv6 as a handle (zones ignored);
   * -1 for text that is no address, or when the IPv6 table is full.
   */
  parse(text: string): number {
    const ipv4 = parseIpv4OrMapped(text);
    if (ipv4 !== undefined) return ipv4;
    if (!parseIpv6Into(text, this.scratch, 0, true)) return -1;
    return this.ipv6.intern(this.scratch, 0);
  }

  retain(address: number): void {
    if (address >= IPV6_HANDLE_BASE) this.ipv6.retain(address);
  }

  release(address: number): void {
    if (address >= IPV6_HANDLE_BASE) this.ipv6.release(address);
  }

  /** Writes the 16 bytes of an IPv6 handle's address at buf[offset]. */
  write6(handle: number, buf: Uint8Array, offset: number): void {
    this.ipv6.write(handle, buf, offset);
  }

  /** Text of either family (allocates). */
  format(address: number): string {
    return address >= IPV6_HANDLE_BASE ? this.ipv6.format(address) : formatIpv4(address);
  }
}
