/**
 * The engine parts of one checkout, this one's or a baseline's src/ (`--baseline=DIR`), loaded by
 * path so that the engine-level benchmarks (engine-path, connection-path) can run two builds side by
 * side in one process.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface EngineBuild {
  readonly name: string;
  readonly FRAME_CHECKSUM_PARTIAL: number;
  readonly MemoryLink: typeof import('../src/link/memory-link.js').MemoryLink;
  readonly FakeClock: typeof import('../src/stack/clock.js').FakeClock;
  readonly SystemClock: typeof import('../src/stack/clock.js').SystemClock;
  readonly HostAddressMap: typeof import('../src/stack/host-address-map.js').HostAddressMap;
  readonly Stack: typeof import('../src/stack/stack.js').Stack;
  readonly installTcp: typeof import('../src/stack/tcp/tcp-engine.js').installTcp;
}

export async function loadEngineBuild(name: string, root: string): Promise<EngineBuild> {
  const load = (path: string): Promise<Record<string, unknown>> => import(pathToFileURL(resolve(root, path)).href) as Promise<Record<string, unknown>>;
  const [link, memoryLink, clock, addressMap, stack, tcp] = await Promise.all([
    load('src/link/link.ts'),
    load('src/link/memory-link.ts'),
    load('src/stack/clock.ts'),
    load('src/stack/host-address-map.ts'),
    load('src/stack/stack.ts'),
    load('src/stack/tcp/tcp-engine.ts'),
  ]);
  return {
    name,
    FRAME_CHECKSUM_PARTIAL: link.FRAME_CHECKSUM_PARTIAL as number,
    MemoryLink: memoryLink.MemoryLink as EngineBuild['MemoryLink'],
    FakeClock: clock.FakeClock as EngineBuild['FakeClock'],
    SystemClock: clock.SystemClock as EngineBuild['SystemClock'],
    HostAddressMap: addressMap.HostAddressMap as EngineBuild['HostAddressMap'],
    Stack: stack.Stack as EngineBuild['Stack'],
    installTcp: tcp.installTcp as EngineBuild['installTcp'],
  };
}
