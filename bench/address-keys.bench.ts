/**
 * Address keys micro-benchmark: `npx tsx bench/address-keys.bench.ts` (pure computation, no lock needed).
 *
 * What a lookup costs with the keys that let every table hold both address families
 * (src/stack/address-table.ts, src/stack/tcp/flow-table.ts), against the IPv4-only key it replaced
 * and STYLE.md's budget (a numeric-key Map lookup ≈ 24 ns, a string-key one ≈ 236 ns):
 *
 * - flow lookup, IPv4-only keys (before): Maps keyed by the guest's host number split around the remote
 *   address and the ports;
 * - flow lookup, FlowTable (now): Map by remote endpoint (address · 2^16 + port) of Maps by guest endpoint,
 *   for IPv4 addresses and for IPv6 handles (numbers ≥ 2^32); with one flow it is the last-found check;
 * - IPv6 address table: find() of an address read from packet bytes (hit and miss), which the IPv6 input
 *   path does once per address before a flow lookup; intern + release (a flow's life);
 * - baselines: one Map get with a small-integer key, with a string key.
 *
 * Each with 1, 64 and 4096 flows or addresses (lookups cycle through all of them). Prints a markdown
 * table and writes it to bench/results/address-keys-DATE.md. BENCH_MAX_TIME (seconds per case,
 * default 1).
 */
import Benchmark from 'benchmark';
import { mkdirSync, writeFileSync } from 'node:fs';
import { IPV6_HANDLE_BASE, Ipv6AddressTable } from '../src/stack/address-table.js';
import { FlowTable } from '../src/stack/tcp/flow-table.js';
import type { FlowTuple } from '../src/stack/tcp/flow.js';

const MAX_TIME = Number(process.env.BENCH_MAX_TIME ?? 1);
const SIZES = [1, 64, 4096];
const NETWORK = 0x0a000200;
const GUEST = 0x0a000264;

/**
 * The IPv4-only keys the TCP engine used before the flow table: the guest's host number split across
 * the two maps (its bits above the low 21 beside the remote address, the low 21 beside both ports).
 */
class OldFlowTable {
  private readonly flows = new Map<number, Map<number, FlowTuple>>();
  private outerKey(guestAddress: number, remoteAddress: number): number {
    return (((guestAddress - NETWORK) >>> 0) >>> 21) * 0x1_0000_0000 + remoteAddress;
  }
  private innerKey(guestAddress: number, guestPort: number, remotePort: number): number {
    return (((guestAddress - NETWORK) >>> 0) & 0x1f_ffff) * 0x1_0000_0000 + (((guestPort << 16) | remotePort) >>> 0);
  }
  get(guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): FlowTuple | undefined {
    return this.flows.get(this.outerKey(guestAddress, remoteAddress))?.get(this.innerKey(guestAddress, guestPort, remotePort));
  }
  add(f: FlowTuple): void {
    const outer = this.outerKey(f.guestAddress, f.remoteAddress);
    let inner = this.flows.get(outer);
    if (!inner) this.flows.set(outer, (inner = new Map()));
    inner.set(this.innerKey(f.guestAddress, f.guestPort, f.remotePort), f);
  }
}

/** n flows: guest ports 40000+ to a few remote endpoints (loopback via the gateway, public hosts). */
function tuples(n: number, remoteBase: number): FlowTuple[] {
  return Array.from({ length: n }, (_, i) => ({
    guestAddress: GUEST,
    guestPort: 40000 + (i % 20000),
    remoteAddress: remoteBase + (i % 7) * 0x101,
    remotePort: i % 3 === 0 ? 443 : 80 + (i % 5),
  }));
}

const addressTable = new Ipv6AddressTable(8192);
const packets = new Map<number, { bytes: Uint8Array; offsets: number[]; missOffsets: number[] }>();
for (const n of SIZES) {
  // Addresses laid out as in received frames: 16 bytes at an offset inside a bigger buffer.
  const bytes = new Uint8Array(64 * (2 * n));
  const offsets: number[] = [];
  const missOffsets: number[] = [];
  for (let i = 0; i < 2 * n; i++) {
    const at = 64 * i + 22;
    bytes.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, n & 0xff, 0, 0, 0, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 1], at);
    if (i < n) {
      addressTable.intern(bytes, at);
      offsets.push(at);
    } else missOffsets.push(at);
  }
  packets.set(n, { bytes, offsets, missOffsets });
}

let sink = 0;
const suite = new Benchmark.Suite('address-keys');
for (const n of SIZES) {
  const v4 = tuples(n, 0x5db8d800);
  const old = new OldFlowTable();
  const now4 = new FlowTable<FlowTuple>();
  for (const t of v4) {
    old.add(t);
    now4.add(t);
  }
  // IPv6 flows: guest and remote are handles (numbers ≥ 2^32).
  const v6 = tuples(n, 0).map((t) => ({ ...t, guestAddress: IPV6_HANDLE_BASE + 1, remoteAddress: IPV6_HANDLE_BASE + 2 + (t.remoteAddress % 4096) }));
  const now6 = new FlowTable<FlowTuple>();
  for (const t of v6) now6.add(t);
  let i = 0;
  suite.add(`flow lookup, IPv4-only key (before)|${n}`, () => {
    const t = v4[i++ % n];
    if (old.get(t.guestAddress, t.guestPort, t.remoteAddress, t.remotePort) !== undefined) sink++;
  }, { maxTime: MAX_TIME });
  suite.add(`flow lookup, FlowTable, IPv4|${n}`, () => {
    const t = v4[i++ % n];
    if (now4.get(t.guestAddress, t.guestPort, t.remoteAddress, t.remotePort) !== undefined) sink++;
  }, { maxTime: MAX_TIME });
  suite.add(`flow lookup, FlowTable, IPv6 handles|${n}`, () => {
    const t = v6[i++ % n];
    if (now6.get(t.guestAddress, t.guestPort, t.remoteAddress, t.remotePort) !== undefined) sink++;
  }, { maxTime: MAX_TIME });
  const p = packets.get(n)!;
  suite.add(`IPv6 address find, hit|${n}`, () => {
    sink += addressTable.find(p.bytes, p.offsets[i++ % n]);
  }, { maxTime: MAX_TIME });
  suite.add(`IPv6 address find, miss|${n}`, () => {
    sink += addressTable.find(p.bytes, p.missOffsets[i++ % n]);
  }, { maxTime: MAX_TIME });
  suite.add(`IPv6 intern + release (a new flow's life)|${n}`, () => {
    addressTable.release(addressTable.intern(p.bytes, p.missOffsets[i++ % n]));
  }, { maxTime: MAX_TIME });
  const numeric = new Map<number, number>();
  const strings = new Map<string, number>();
  const stringKeys: string[] = [];
  for (let k = 0; k < n; k++) {
    numeric.set(k, k);
    stringKeys.push(`10.0.2.100:${40000 + k}>93.184.216.${k % 256}:443`);
    strings.set(stringKeys[k], k);
  }
  suite.add(`baseline: Map get, small-integer key|${n}`, () => {
    sink += numeric.get(i++ % n) ?? 0;
  }, { maxTime: MAX_TIME });
  suite.add(`baseline: Map get, string key (built per lookup)|${n}`, () => {
    const k = i++ % n;
    sink += strings.get(`10.0.2.100:${40000 + k}>93.184.216.${k % 256}:443`) ?? 0;
  }, { maxTime: MAX_TIME });
}

interface Row {
  lookup: string;
  entries: number;
  'ns/op': string;
  '±%': string;
}
const rows: Row[] = [];
suite.on('cycle', (event: Benchmark.Event) => {
  const bench = event.target as unknown as Benchmark & { name: string };
  const [what, n] = bench.name.split('|');
  rows.push({ lookup: what, entries: Number(n), 'ns/op': (1e9 / (bench.hz ?? 1)).toFixed(1), '±%': (bench.stats?.rme ?? 0).toFixed(2) });
  process.stderr.write(`  ${String(event.target)}\n`);
});
suite.on('complete', () => {
  const what = [...new Set(rows.map((r) => r.lookup))];
  const header = `| lookup | ${SIZES.map((n) => `${n} entries (ns)`).join(' | ')} |`;
  const lines = [header, `|---|${SIZES.map(() => '---:').join('|')}|`];
  for (const w of what) lines.push(`| ${w} | ${SIZES.map((n) => rows.find((r) => r.lookup === w && r.entries === n)?.['ns/op'] ?? '').join(' | ')} |`);
  const table = `address keys, Node ${process.version}, ${MAX_TIME}s per case, ${new Date().toISOString()}\n\n${lines.join('\n')}\n`;
  console.log(`\n${table}`);
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`address-keys-${new Date().toISOString().slice(0, 10)}.md`, dir), table);
  if (sink === 0.5) console.log(sink);
});
suite.run({ async: false });
