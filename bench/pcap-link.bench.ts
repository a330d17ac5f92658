/**
 * What `--pcap` costs the data path: `npx tsx bench/pcap-link.bench.ts`.
 *
 * Like the engine, one wakeup transmits a batch of 64 frames (64 B, 1514 B, 64 KiB super-frames) and
 * flushes, then yields to the event loop (so the capture stream can write). Each case runs through a
 * bare counting Link and through a PcapLink around it writing to a file in the temp folder, and
 * reports frames/s, GB/s and how many capture records were dropped because the disk fell behind
 * (the PcapLink drops records rather than stall the data path). BENCH_SECONDS per case (default 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { NO_OFFLOADS, type FrameSink, type Link } from '../src/link/link.js';
import { PcapLink } from '../src/link/pcap-link.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const BATCH = 64;

class CountingLink implements Link {
  readonly mtu = 65520;
  readonly offloads = NO_OFFLOADS;
  bytes = 0;
  start(_sink: FrameSink): void {}
  transmit(head: Uint8Array, body: Uint8Array | null): void {
    this.bytes += head.length + (body?.length ?? 0);
  }
  flush(): void {}
  close(): void {}
}

async function measure(link: Link, size: number): Promise<number> {
  const head = new Uint8Array(54);
  const body = new Uint8Array(size - 54);
  let frames = 0;
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < BATCH; i++) link.transmit(head, body);
    link.flush();
    frames += BATCH;
    await nextTurn();
  }
  return frames / ((performance.now() - start) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'tslirp-pcap-bench-'));
try {
  for (const size of [64, 1514, 65549]) {
    const bare = await measure(new CountingLink(), size);
    const pcap = new PcapLink(new CountingLink(), { path: join(dir, `${size}.pcap`), maxFileBytes: 2 ** 40 });
    const captured = await measure(pcap, size);
    pcap.close();
    await pcap.whenClosed();
    const s = pcap.stats();
    const line = (name: string, fps: number): string => `${name.padEnd(6)} ${String(size).padStart(5)} B  ${(fps / 1e6).toFixed(3)} Mframes/s  ${((fps * size) / 1e9).toFixed(2)} GB/s`;
    console.log(line('bare', bare));
    console.log(`${line('pcap', captured)}  (${s.recordsWritten} records written, ${s.recordsDroppedQueueFull} dropped: disk behind)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
