/**
 * Addresses as table keys for both families (src/stack/address-table.ts) and the TCP flow table
 * (src/stack/tcp/flow-table.ts): IPv6 addresses interned into handles above every IPv4 address,
 * bounded and reference-counted, found in packet bytes without allocation; endpoint keys exact for
 * both; flows found by their four-tuple whatever the family, and only their own entry removed.
 */
import { describe, expect, it } from 'vitest';
import { endpointKey, hashWords, IPV6_HANDLE_BASE, isIpv6Handle, Ipv6AddressTable } from '../../src/stack/address-table.js';
import { readUint32 } from '../../src/wire/bytes.js';
import { ipv6Hash } from '../../src/wire/ipv6-address.js';
import { FlowTable } from '../../src/stack/tcp/flow-table.js';
import type { FlowTuple } from '../../src/stack/tcp/flow.js';

/** 2001:db8::N written at `offset` of a zeroed buffer (as it sits in a received frame). */
function v6(n: number, offset = 22, bytes = new Uint8Array(64)): [Uint8Array, number] {
  bytes.set([0x20, 0x01, 0x0d, 0xb8], offset);
  bytes[offset + 14] = n >> 8;
  bytes[offset + 15] = n & 0xff;
  return [bytes, offset];
}

describe('IPv6 address table', () => {
  it('gives one handle per address, above every IPv4 address, and writes it back', () => {
    const table = new Ipv6AddressTable(8);
    const a = table.intern(...v6(1));
    expect(a).toBeGreaterThanOrEqual(IPV6_HANDLE_BASE);
    expect(isIpv6Handle(a)).toBe(true);
    expect(isIpv6Handle(0xffffffff)).toBe(false);
    expect(table.intern(...v6(1, 3))).toBe(a); // the same address at another offset
    expect(table.find(...v6(1, 40))).toBe(a);
    expect(table.intern(...v6(2))).not.toBe(a);
    expect(table.size).toBe(2);
    const out = new Uint8Array(20);
    table.write(a, out, 4);
    expect([...out.subarray(4)]).toEqual([...v6(1, 0, new Uint8Array(16))[0]]);
    expect(table.format(a)).toBe('2001:db8::1');
  });

  it('compares addresses in full: equal hashes or shared prefixes never mix them up', () => {
    const table = new Ipv6AddressTable(4096);
    const handles = new Map<number, number>();
    for (let n = 0; n < 4096; n++) handles.set(n, table.intern(...v6(n)));
    expect(new Set(handles.values()).size).toBe(4096);
    for (let n = 0; n < 4096; n++) expect(table.find(...v6(n))).toBe(handles.get(n));
    const other = v6(5);
    other[0][22 + 7] = 1; // 2001:db8:0:1::5
    expect(table.find(...other)).toBe(-1);
  });

  it('is bounded: a newcomer beyond capacity gets no handle; a released slot is reused', () => {
    const table = new Ipv6AddressTable(2);
    const a = table.intern(...v6(1));
    const b = table.intern(...v6(2));
    expect(table.intern(...v6(3))).toBe(-1);
    expect(table.intern(...v6(1))).toBe(a); // held twice now
    table.release(a);
    expect(table.find(...v6(1))).toBe(a);
    table.release(a);
    expect(table.find(...v6(1))).toBe(-1);
    expect(table.size).toBe(1);
    const c = table.intern(...v6(3));
    expect(c).toBe(a); // the freed slot
    expect(table.find(...v6(2))).toBe(b);
    table.retain(b);
    table.release(b);
    expect(table.find(...v6(2))).toBe(b);
  });

  it("hashes as the wire's ipv6Hash does, from the words it already read", () => {
    for (let n = 0; n < 100; n++) {
      const [bytes, at] = v6(n * 977);
      const words = [0, 4, 8, 12].map((k) => readUint32(bytes, at + k));
      for (const seed of [0, 0x12345678, 0xffffffff]) expect(hashWords(words[0], words[1], words[2], words[3], seed)).toBe(ipv6Hash(bytes, at, seed));
    }
  });

  it('refuses handles it does not hold (a bug, not input)', () => {
    const table = new Ipv6AddressTable(2);
    expect(() => table.release(IPV6_HANDLE_BASE)).toThrow(/not a held IPv6 handle/);
    expect(() => table.write(0x0a000202, new Uint8Array(16), 0)).toThrow(/not a held IPv6 handle/);
  });
});

describe('endpoint keys', () => {
  it('are exact and distinct for IPv4 addresses and IPv6 handles', () => {
    const keys = [endpointKey(0xffffffff, 65535), endpointKey(IPV6_HANDLE_BASE, 0), endpointKey(IPV6_HANDLE_BASE + (1 << 24) - 1, 65535)];
    expect(new Set(keys).size).toBe(3);
    for (const k of keys) expect(Number.isSafeInteger(k)).toBe(true);
    expect(keys[0]).toBeLessThan(keys[1]);
  });
});

describe('flow table', () => {
  const tuple = (guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): FlowTuple => ({ guestAddress, guestPort, remoteAddress, remotePort });

  it('finds flows by the four-tuple, IPv4 and IPv6 alike, whatever the guest network', () => {
    const table = new FlowTable<FlowTuple>();
    const flows = [
      tuple(0x0a000264, 40000, 0x0a000202, 80),
      tuple(0x0a000264, 40000, 0x0a000202, 443), // same guest endpoint, another remote port
      tuple(0x0a000265, 40000, 0x0a000202, 80), // another guest address (any prefix length)
      tuple(0x0a000264, 40000, 0xc6120002, 80), // another remote address
      tuple(IPV6_HANDLE_BASE + 1, 40000, IPV6_HANDLE_BASE + 2, 80),
      tuple(IPV6_HANDLE_BASE + 1, 40000, 0x0a000202, 80), // keys of both families never collide
    ];
    for (const f of flows) table.add(f);
    expect(table.size).toBe(flows.length);
    for (const f of flows) expect(table.get(f.guestAddress, f.guestPort, f.remoteAddress, f.remotePort)).toBe(f);
    expect(table.get(0x0a000264, 40001, 0x0a000202, 80)).toBeUndefined();
    expect([...table.values()].length).toBe(flows.length);
  });

  it('removes only the flow it is given (not a newer one on the same tuple), and never finds a removed one', () => {
    const table = new FlowTable<FlowTuple>();
    const old = tuple(0x0a000264, 40000, 0x0a000202, 80);
    table.add(old);
    expect(table.get(0x0a000264, 40000, 0x0a000202, 80)).toBe(old); // now the flow found last
    expect(table.delete(old)).toBe(true);
    expect(table.get(0x0a000264, 40000, 0x0a000202, 80)).toBeUndefined();
    expect(table.delete(old)).toBe(false);
    const newer = tuple(0x0a000264, 40000, 0x0a000202, 80);
    table.add(newer);
    expect(table.delete(old)).toBe(false);
    expect(table.get(0x0a000264, 40000, 0x0a000202, 80)).toBe(newer);
    expect(table.size).toBe(1);
    table.clear();
    expect(table.size).toBe(0);
  });

  it('a remote endpoint whose last flow went leaves nothing behind for the next one (its emptied map is reused)', () => {
    const table = new FlowTable<FlowTuple>();
    const first = tuple(0x0a000264, 40000, 0x0a000202, 80);
    const second = tuple(0x0a000264, 40001, 0x0a000202, 443);
    table.add(first);
    expect(table.delete(first)).toBe(true);
    table.add(second); // another remote endpoint takes the emptied map
    expect(table.get(0x0a000264, 40000, 0x0a000202, 80)).toBeUndefined();
    expect(table.get(0x0a000264, 40000, 0x0a000202, 443)).toBeUndefined();
    expect(table.get(0x0a000264, 40001, 0x0a000202, 443)).toBe(second);
    expect(table.get(0x0a000264, 40001, 0x0a000202, 80)).toBeUndefined();
    expect([...table.values()]).toEqual([second]);
    table.add(first); // and the first endpoint gets a map of its own again
    expect(table.get(0x0a000264, 40000, 0x0a000202, 80)).toBe(first);
    expect(table.size).toBe(2);
    expect(table.delete(second)).toBe(true);
    expect([...table.values()]).toEqual([first]);
  });
});
