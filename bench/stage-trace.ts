/**
 * A preload for a tslirp process under bench/latency-stages.ts (`node --import tsx --import
 * bench/stage-trace.ts BIN …`, env TSLIRP_STAGE_DIST = the build's dist/, TSLIRP_STAGE_FILE = where
 * to write): stamps, with CLOCK_MONOTONIC (process.hrtime.bigint, the clock latency-peer stamps
 * with), each moment a message passes a stage boundary inside tslirp, by wrapping prototype
 * methods of that build before its CLI runs (the build's unbundled dist/cli/main.js: a bundle has
 * its own copies of the classes), and the addon's socket calls. Written as "CODE NANOSECONDS" lines
 * at exit.
 *
 * Stamps cost ~0.2 µs each and allocate nothing; they are a debug build made at run time, never
 * part of tslirp.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** What each code marks (bench/latency-stages.ts reads them). */
export const STAGE = {
  /** TapLink hands a received batch to the engine (after the TAP read; in thread mode, after the hop). */
  batch: 1,
  /** A host socket's write() is called (guest bytes on their way to the host). */
  hostWrite: 2,
  /** An accepted (published-port) socket emits bytes it read ('data'), or an addon socket read bytes. */
  hostData: 3,
  /** The engine takes host bytes into a flow's send queue. */
  hostBytes: 4,
  /** TapLink.flush() has written frames to the TAP. */
  tapFlush: 5,
} as const;

const dist = process.env.TSLIRP_STAGE_DIST;
const file = process.env.TSLIRP_STAGE_FILE;
if (dist && file) {
  const MAX = 2_000_000;
  const codes = new Uint8Array(MAX);
  const times = new BigInt64Array(MAX);
  let count = 0;
  const stamp = (code: number): void => {
    if (count < MAX) {
      codes[count] = code;
      times[count++] = process.hrtime.bigint();
    }
  };
  const load = async (path: string): Promise<Record<string, { prototype: Record<string, unknown> }>> =>
    (await import(pathToFileURL(join(dist, path)).href)) as Record<string, { prototype: Record<string, unknown> }>;
  type Method = (this: unknown, ...args: unknown[]) => unknown;
  const wrap = (target: Record<string, unknown>, name: string, before: number | null, after: ((self: Record<string, unknown>) => number | null) | null): void => {
    const original = target[name] as Method;
    target[name] = function (this: Record<string, unknown>, ...args: unknown[]): unknown {
      const afterCode = after?.(this) ?? null;
      if (before !== null) stamp(before);
      const result = original.apply(this, args);
      if (afterCode !== null) stamp(afterCode);
      return result;
    };
  };
  const { TapLink } = await load('link/tap-link.js');
  const { SendQueue } = await load('stack/tcp/send-queue.js');
  wrap(TapLink.prototype, 'deliver', STAGE.batch, null);
  wrap(TapLink.prototype, 'flush', null, (self) => ((self.txCount as number) > 0 ? STAGE.tapFlush : null));
  wrap(SendQueue.prototype, 'push', STAGE.hostBytes, null);
  wrap(Socket.prototype as unknown as Record<string, unknown>, 'write', STAGE.hostWrite, null);
  // The addon's host TCP sockets (NativeTcpPort): a send is a host write, a read with bytes is a
  // host data event. The addon's exports are read-only: the loader is handed an object that
  // inherits them, with these two wrapped (installed before the CLI loads the addon).
  const extensions = (createRequire(import.meta.url)('node:module') as { _extensions: Record<string, (module: { exports: unknown }, filename: string) => void> })._extensions;
  const loadNode = extensions['.node'];
  extensions['.node'] = (module, filename): void => {
    loadNode(module, filename);
    const real = module.exports as Record<string, Method>;
    if (typeof real.tcpSend !== 'function') return;
    // defineProperty: a plain assignment is refused where the prototype's property is read-only.
    module.exports = Object.create(real, {
      tcpSend: {
        value: (...args: unknown[]): unknown => {
          stamp(STAGE.hostWrite);
          return real.tcpSend.apply(real, args);
        },
      },
      tcpRecv: {
        value: (...args: unknown[]): unknown => {
          const n = real.tcpRecv.apply(real, args) as number;
          if (n > 0) stamp(STAGE.hostData);
          return n;
        },
      },
    }) as unknown;
  };
  const socketPush = Socket.prototype.push;
  Socket.prototype.push = function (this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null) stamp(STAGE.hostData);
    return socketPush.call(this, chunk, encoding);
  };
  process.on('exit', () => {
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(`${codes[i]} ${times[i]}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
  });
}
