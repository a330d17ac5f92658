/**
 * NativeTcpPort's read slabs are made at a stream's first read: a connect refused inside the call (a
 * storm of SYNs to closed loopback ports) builds none, a stream that reads builds one. ReadSlab is
 * wrapped to count constructions (its behaviour unchanged). Loopback only.
 */
import { describe, expect, it, vi } from 'vitest';
import { NativeTcpPort } from '../../src/host/native-tcp-port.js';
import { HostConnectError } from '../../src/stack/tcp/host-tcp-port.js';
import { closedLoopbackPort, loopbackServers, recordHostStream } from '../support/host-stream-recorder.js';

const built = vi.hoisted(() => ({ slabs: 0 }));
vi.mock('../../src/host/read-slab.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/host/read-slab.js')>();
  class CountedReadSlab extends original.ReadSlab {
    constructor(...args: ConstructorParameters<typeof original.ReadSlab>) {
      super(...args);
      built.slabs++;
    }
  }
  return { ...original, ReadSlab: CountedReadSlab };
});

const listen = loopbackServers();

describe('NativeTcpPort read slabs', { timeout: 20_000 }, () => {
  it('a connect refused inside the call builds no slab; a stream builds one at its first read', async () => {
    const closed = await closedLoopbackPort();
    const port = new NativeTcpPort();
    let refusedInCall = 0;
    for (let i = 0; i < 20; i++) {
      const events = recordHostStream();
      const stream = port.connect({ address: '127.0.0.1', port: closed }, events);
      if (stream.failedInConnect === HostConnectError.Refused) refusedInCall++;
      else await events.closed; // refused later (a busy kernel deferred the RST): an event, no read either
    }
    expect(refusedInCall).toBeGreaterThan(0);
    expect(built.slabs).toBe(0);

    const open = await listen((s) => s.end('hi'));
    const events = recordHostStream();
    const stream = port.connect({ address: '127.0.0.1', port: open }, events);
    if (stream.connectedInConnect !== true) await events.connected; // else no onConnect follows
    expect(built.slabs).toBe(0); // connected, nothing read yet
    stream.resume();
    await events.ended;
    expect(Buffer.concat(events.chunks).toString()).toBe('hi');
    expect(built.slabs).toBe(1);
    stream.destroy();
  });
});
