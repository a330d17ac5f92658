/**
 * native/udp_socket.c at the addon's own surface (src/host/native-udp-port.ts is tested against it
 * in test/host): a socket's poll events reach onEvent with onEvent itself as `this` (no lookup of
 * the global object per event), and the datagram is read from the peer it came from. Its own file:
 * udpInit is once per process, and NativeUdpPort would take it. Loopback only.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, expect, it } from 'vitest';
import { UDP_EVENT_READABLE, loadNativeAddon } from '../../src/native/native-addon.js';

const addon = loadNativeAddon();
const peer = new Uint8Array(64);
const receivers: unknown[] = [];
const readable: number[] = [];
function onEvent(this: unknown, id: number, events: number): void {
  receivers.push(this);
  if (events & UDP_EVENT_READABLE) {
    const scratch = new Uint8Array(64);
    while (addon.udpRecv(id, scratch) > 0) readable.push(id);
  }
}
addon.udpInit(onEvent, peer);

const echo = createSocket('udp4');
echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
afterAll(() => echo.close());

it('reports a readable socket to onEvent, called with itself as `this`', async () => {
  echo.bind(0, '127.0.0.1');
  await once(echo, 'listening');
  expect(addon.udpOpen(1, 4, undefined)).toBe(0);
  try {
    expect(addon.udpSend(1, new Uint8Array([1, 2, 3]), '127.0.0.1', echo.address().port)).toBe(3);
    const end = Date.now() + 3000;
    while (readable.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(readable).toEqual([1]);
    expect(receivers.length).toBeGreaterThan(0);
    for (const receiver of receivers) expect(receiver).toBe(onEvent);
  } finally {
    addon.udpClose(1);
  }
});
