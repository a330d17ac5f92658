/**
 * Which code of the node binary a moment made resident: `npx tsx bench/resident-code.ts BEFORE AFTER`
 * with two page lists bench/memory.ts --map wrote (pages-PID-MOMENT.json). Each page resident AFTER
 * but not BEFORE is split among the symbols it holds (`nm -C --defined-only` of the binary, each
 * symbol's bytes up to the next one), and the pages are summed by component (V8's GC, its compilers,
 * its builtins, the parser and interpreter, Node's C++, libuv, ...), largest first, with each
 * component's largest symbols. Read-only data outside .text (V8's snapshot, ICU) is its own line.
 * A measurement aid: reads files and the binary, runs nothing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [beforeFile, afterFile] = process.argv.slice(2);
if (beforeFile === undefined || afterFile === undefined) throw new Error('usage: npx tsx bench/resident-code.ts BEFORE.json AFTER.json');
const PAGE = 4096;
const load = (file: string): { binary: string; offsets: number[] } => JSON.parse(readFileSync(file, 'utf8'));
const before = load(beforeFile);
const after = load(afterFile);
const had = new Set(before.offsets);
const addedOffsets = after.offsets.filter((offset) => !had.has(offset));
const dropped = before.offsets.filter((offset) => !new Set(after.offsets).has(offset)).length;

/** The binary's LOAD segments (readelf -lW): file offset → address, and which are code. */
const segments = execFileSync('readelf', ['-lW', after.binary])
  .toString()
  .split('\n')
  .flatMap((line) => {
    const m = /^\s+LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+(.+?)\s+0x/.exec(line);
    return m ? [{ offset: parseInt(m[1], 16), address: parseInt(m[2], 16), size: parseInt(m[3], 16), flags: m[4].replace(/\s/g, '') }] : [];
  });
/** Page-aligned file offset → the address of its page and whether it holds code; undefined outside the segments. */
const place = (offset: number): { page: number; code: boolean } | undefined => {
  for (const s of segments) {
    const start = s.offset & ~(PAGE - 1);
    if (offset >= start && offset < s.offset + s.size) return { page: offset - s.offset + s.address, code: s.flags.includes('E') };
  }
  return undefined;
};
const added = addedOffsets.map(place);

/** Text symbols by address (functions and builtins), from nm. */
const symbols = execFileSync('nm', ['-C', '--defined-only', '-n', after.binary], { maxBuffer: 1 << 28 })
  .toString()
  .split('\n')
  .flatMap((line) => {
    const m = /^([0-9a-f]+) ([tTwW]) (.*)$/.exec(line);
    return m && !m[3].startsWith('.annobin') ? [{ address: parseInt(m[1], 16), name: m[3] }] : [];
  });

const COMPONENTS: [string, RegExp][] = [
  ['V8 builtins (embedded)', /^Builtins_/],
  ['V8 TurboFan', /v8::internal::compiler::|turboshaft/],
  ['V8 Maglev', /v8::internal::maglev::/],
  ['V8 baseline (Sparkplug)', /v8::internal::baseline::/],
  ['V8 GC', /v8::internal::(Heap|Scavenge|MarkCompact|Mark|Minor|Sweep|Evacuat|Concurrent|Incremental|Memory|PagedSpace|NewSpace|SemiSpace|LargeObject|MemoryChunk|Page|RememberedSet|SlotSet|Worklist|GC|Young|Full|ArrayBufferSweeper|LocalHeap|Safepoint|Compactor|Pointers|Object.*Visitor|RecordMigratedSlot|Unmapper|CodeRange|MemoryAllocator|ReadOnlySpace|HeapObject|EphemeronRemembered|Large|Sweeper|CppHeap)|heap::base|cppgc::/],
  ['V8 parser, bytecode, interpreter', /v8::internal::(Parser|PreParser|Scanner|Ast|Scope|interpreter::|BytecodeArray|Zone|Runtime_Compile|Compiler)/],
  ['V8 runtime, IC, objects', /v8::internal::/],
  ['V8 API', /^v8::/],
  ['Node C++', /^node::/],
  ['libuv', /^uv_|^uv__/],
  ['OpenSSL', /^(SSL|EVP|OPENSSL|CRYPTO|BN|RSA|EC|ossl)_/i],
  ['ICU', /icu_\d+::|^u_|^ucol|^ubrk/],
  ['other', /./],
];
const component = (name: string): string => COMPONENTS.find(([, pattern]) => pattern.test(name))?.[0] ?? 'other';

const totals = new Map<string, { bytes: number; names: Map<string, number> }>();
const add = (what: string, name: string, bytes: number): void => {
  const entry = totals.get(what) ?? { bytes: 0, names: new Map<string, number>() };
  entry.bytes += bytes;
  entry.names.set(name, (entry.names.get(name) ?? 0) + bytes);
  totals.set(what, entry);
};
/** Index of the last symbol at or below address. */
const find = (address: number): number => {
  let lo = 0;
  let hi = symbols.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (symbols[mid].address <= address) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};
for (const where of added) {
  if (where === undefined || !where.code) {
    add('not code (read-only data: V8 snapshot, tables, ICU; relocated data)', where === undefined ? '?' : where.page.toString(16), PAGE);
    continue;
  }
  const page = where.page;
  for (let i = find(page), at = page; at < page + PAGE && i < symbols.length; i++) {
    const end = Math.min(page + PAGE, symbols[i + 1]?.address ?? page + PAGE);
    if (end > at) add(component(symbols[i].name), symbols[i].name.replace(/\(.*$/, ''), end - at);
    at = Math.max(at, end);
  }
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;
console.log(`${after.binary}: ${added.length} pages (${kib(added.length * PAGE)}) resident after, not before; ${dropped} the other way`);
for (const [what, { bytes, names }] of [...totals].sort((a, b) => b[1].bytes - a[1].bytes)) {
  const top = [...names].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([name, n]) => `${name.slice(0, 70)} ${kib(n)}`);
  console.log(`${kib(bytes).padStart(9)}  ${what}: ${top.join('; ')}`);
}
