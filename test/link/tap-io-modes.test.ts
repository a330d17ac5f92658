/**
 * The native TAP reader's two modes, on a SOCK_SEQPACKET socket pair standing in for the TAP (frame
 * boundaries kept, no privileges needed): light request/response traffic is read on the event loop
 * (no reader-thread batch at all), a heavy stream hands the fd to the reader thread, which hands it
 * back once the stream is over; every frame comes back intact and in order throughout.
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
out = {}
exchange(200, 100)
out['light'] = stats()
# A stream: the loop is kept busy while 12 frames of 60000 bytes wait, then 300 more follow.
frames = [bytes([i % 251]) * 60000 for i in range(312)]
received = []
def drain():
    while len(received) < 1 + len(frames):
        received.append(a.recv(70000))
reader = threading.Thread(target=drain)
reader.start()
a.send(control('BLOCK!50'))
for f in frames: a.send(f)
reader.join(30)
assert received[0] == control('BLOCK!50') and received[1:] == frames, 'stream echo differs'
out['heavy'] = stats()
time.sleep(0.2)
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
}

describe.skipIf(!addonBuilt)('TAP reader modes (socket pair)', () => {
  it('reads light traffic on the event loop, a heavy stream on the thread, and hands back after it', () => {
    const out = execFileSync('python3', ['-c', DRIVER, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/support/tap-io-echo.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const phases = JSON.parse(out) as Record<'light' | 'heavy' | 'light again', Counters>;
    const { light, heavy } = phases;
    const again = phases['light again'];
    // 200 exchanges (+ the STATS! frame): all read on the loop.
    expect(light.rxFrames).toBe(201);
    expect(light.rxThreadBatches).toBe(0);
    expect(light.rxModeSwitches).toBe(0);
    // The stream went to the thread (one switch) and came back once it ran dry (another).
    expect(heavy.rxFrames - light.rxFrames).toBe(1 + 312 + 1);
    expect(heavy.rxThreadBatches).toBeGreaterThan(0);
    expect(heavy.rxModeSwitches).toBeGreaterThanOrEqual(1);
    expect(again.rxModeSwitches).toBeGreaterThanOrEqual(2);
    expect(again.rxModeSwitches % 2).toBe(0); // ended in poll mode
    // After the stream, request/response is read on the loop again.
    expect(again.rxThreadBatches).toBe(heavy.rxThreadBatches);
    expect(again.rxFrames - heavy.rxFrames).toBe(101);
    expect(again.rxDropped + again.txDropped).toBe(0);
  });
});
