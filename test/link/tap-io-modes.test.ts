/**
 * The native TAP reader's two modes, on a SOCK_SEQPACKET socket pair standing in for the TAP (frame
 * boundaries kept, no privileges needed): light request/response traffic is read on the event loop
 * (no reader-thread batch at all), and so are many small frames at once; a heavy stream (over
 * 1 MB within 10 ms, or a full batch) hands the fd to the reader thread, which hands it back once
 * the stream is over; every frame comes back intact and in order throughout.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/netns.js';

const addonBuilt = existsSync(join(REPO_ROOT, 'build/Release/tslirp_native.node'));

/** python3 makes the pair, starts the echo link on one end and drives the other; prints JSON. */
const DRIVER = String.raw`
import json, os, socket, subprocess, sys, threading, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
a.settimeout(20)
a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20) # room for a full batch to wait at once
env = dict(os.environ, TAP_FD=str(b.fileno()))
child = subprocess.Popen(sys.argv[1:], pass_fds=[b.fileno()], env=env, stdout=subprocess.PIPE)
b.close()
assert child.stdout.readline().strip() == b'ready'
def control(text):
    return text.encode().ljust(60)
def stats():
    a.send(control('STATS!'))
    return json.loads(a.recv(70000))
def exchange(n, size):
    for i in range(n):
        frame = bytes([i % 251]) * size
        a.send(frame)
        assert a.recv(70000) == frame, 'echo differs'
def burst(frames, block_ms):
    # The loop is kept busy while the frames queue up (if block_ms), then they are echoed.
    received = []
    def drain():
        while len(received) < len(frames) + (1 if block_ms else 0):
            received.append(a.recv(70000))
    reader = threading.Thread(target=drain)
    reader.start()
    if block_ms: a.send(control('BLOCK!%d' % block_ms))
    for f in frames: a.send(f)
    reader.join(30)
    assert received == ([control('BLOCK!%d' % block_ms)] if block_ms else []) + frames, 'burst echo differs'
    time.sleep(0.2) # the thread finds the TAP dry for 20 ms and hands back
out = {}
exchange(200, 100)
out['light'] = stats()
burst([bytes([i]) * 200 for i in range(100)], 200)
out['100 small frames at once'] = stats()
burst([bytes([i]) * 60000 for i in range(40)], 200)
out['a full batch at once'] = stats()
burst([bytes([i % 251]) * 60000 for i in range(300)], 0)
out['stream'] = stats()
exchange(100, 100)
out['light again'] = stats()
child.terminate()
child.wait(10)
print(json.dumps(out))
`;

interface Counters {
  rxFrames: number;
  rxBatches: number;
  rxThreadBatches: number;
  rxModeSwitches: number;
  rxDropped: number;
  txDropped: number;
  areaReleases: number;
  rxAreaResident: number;
  txAreaResident: number;
}

/**
 * What the areas may keep after a stream: 64 KiB of each receive batch, whole pages; of the 1 MiB
 * transmit area 64 KiB plus one frame, because on a busy machine the release can come before the
 * stream's last echo is written, which then starts anywhere in the first 64 KiB (seen: 72 KiB).
 */
const KEPT_RX = 2 * (64 + 4) * 1024;
const KEPT_TX = (64 + 64 + 4) * 1024;

describe.skipIf(!addonBuilt)('TAP reader modes (socket pair)', () => {
  it('reads light traffic on the event loop, a heavy stream on the thread, and hands back after it', () => {
    const out = execFileSync('python3', ['-c', DRIVER, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/support/tap-io-echo.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const phases = JSON.parse(out) as Record<string, Counters>;
    const light = phases['light'];
    const small = phases['100 small frames at once'];
    const full = phases['a full batch at once'];
    const stream = phases['stream'];
    const again = phases['light again'];
    // 200 exchanges (+ the STATS! frame): all read on the loop.
    expect(light.rxFrames).toBe(201);
    expect(light.rxThreadBatches).toBe(0);
    expect(light.rxModeSwitches).toBe(0);
    expect(light.areaReleases).toBe(0);
    // 100 small frames at once are few bytes (ACKs of a bulk transfer look like this): still the loop.
    expect(small.rxFrames - light.rxFrames).toBe(1 + 100 + 1);
    expect(small.rxModeSwitches).toBe(0);
    // 2.4 MB waiting at once fills a batch: the fd went to the thread, and came back once it ran dry.
    expect(full.rxFrames - small.rxFrames).toBe(1 + 40 + 1);
    expect(full.rxModeSwitches).toBe(2);
    // 2.4 MB went through both areas; once the thread handed back, their pages beyond what light
    // traffic uses went back to the kernel (the peak of a transfer is not kept).
    expect(full.areaReleases).toBe(1);
    expect(full.rxAreaResident).toBeLessThanOrEqual(KEPT_RX);
    expect(full.txAreaResident).toBeLessThanOrEqual(KEPT_TX);
    // A stream of 18 MB: every frame back intact (checked by the driver), at well over 100 MB/s
    // (the thread), and the reader ends in poll mode (an even number of switches).
    expect(stream.rxFrames - full.rxFrames).toBe(300 + 1);
    expect(stream.rxThreadBatches).toBeGreaterThan(full.rxThreadBatches);
    expect(stream.rxModeSwitches % 2).toBe(0);
    expect(stream.areaReleases).toBe(stream.rxModeSwitches / 2);
    expect(stream.rxAreaResident).toBeLessThanOrEqual(KEPT_RX);
    expect(stream.txAreaResident).toBeLessThanOrEqual(KEPT_TX);
    // After it, request/response is read on the loop again.
    expect(again.rxThreadBatches).toBe(stream.rxThreadBatches);
    expect(again.rxModeSwitches).toBe(stream.rxModeSwitches);
    expect(again.rxFrames - stream.rxFrames).toBe(101);
    expect(again.rxDropped + again.txDropped).toBe(0);
  });
});
