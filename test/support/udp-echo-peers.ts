/**
 * The two ends of UDP echo exchanges for end-to-end tests: an echo server on host loopback (in the
 * test process; 127.0.0.1, reached from the guest as 10.0.2.2, or ::1, reached as fd00::2) and a
 * python3 client run inside the guest's namespace (GUEST_CLIENT, either family by the address given):
 *  - `echo HOST PORT COUNT SIZE WINDOW`: COUNT datagrams, at most WINDOW in flight, each checked;
 *  - `large HOST PORT SIZE`: one datagram of SIZE bytes, and its echo compared;
 *  - `two-peers HOST PORT OTHER OTHERPORT`: one socket, a datagram to each in turn, both answers;
 *  - `refused HOST PORT`: one datagram on a connected socket: "refused", "answered" or "timeout".
 * Used by test/e2e/udp-forward.test.ts and test/e2e/ipv6-udp.test.ts. Loopback only.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

export const GUEST_CLIENT = String.raw`
import json, os, select, socket, sys, time, hashlib
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
if mode == 'echo':
    count, size, window = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    s.setblocking(False)
    sent = 0; got = 0; bad = 0; outstanding = set(); t0 = time.monotonic(); last = time.monotonic()
    while got + bad < count:
        while sent < count and len(outstanding) < window:
            payload = sent.to_bytes(4, 'big') + bytes((sent + i) & 0xff for i in range(size - 4))
            s.sendto(payload, (host, port)); outstanding.add(sent); sent += 1
        r, _, _ = select.select([s], [], [], 2.0)
        if not r:
            break  # nothing for 2 s: the rest is lost
        while True:
            try:
                data, peer = s.recvfrom(65536)
            except BlockingIOError:
                break
            n = int.from_bytes(data[:4], 'big')
            ok = peer[:2] == (host, port) and n in outstanding and data[4:] == bytes((n + i) & 0xff for i in range(size - 4))
            outstanding.discard(n)
            if ok: got += 1
            else: bad += 1
    print(json.dumps({'sent': sent, 'got': got, 'bad': bad, 'lost': count - got - bad, 'seconds': time.monotonic() - t0}))
elif mode == 'large':
    size = int(sys.argv[4])
    payload = os.urandom(size)
    s.settimeout(5)
    s.sendto(payload, (host, port))
    data, peer = s.recvfrom(65536)
    print(json.dumps({'sha256': hashlib.sha256(payload).hexdigest(), 'same': data == payload, 'length': len(data), 'peer': list(peer[:2])}))
elif mode == 'two-peers':
    # One guest socket: first the host's loopback (via 10.0.2.2), then a peer on another network.
    other, other_port = sys.argv[4], int(sys.argv[5])
    s.settimeout(5)
    answers = []
    for peer in [(host, port), (other, other_port)]:
        s.sendto(b'to ' + peer[0].encode(), peer)
        data, source = s.recvfrom(100)
        answers.append([data.decode(), source[0]])
    print(json.dumps(answers))
elif mode == 'refused':
    s.settimeout(5)
    s.connect((host, port))
    s.send(b'anyone?')
    try:
        s.recv(100)
        print('answered')
    except ConnectionRefusedError:
        print('refused')
    except socket.timeout:
        print('timeout')
`;

export interface EchoServer {
  port: number;
  received: number;
  lastHash: string;
  lastLength: number;
  close(): Promise<void>;
}

/** A UDP echo server on 127.0.0.1 (family 4, the default; the guest's 10.0.2.2) or ::1 (family 6; fd00::2). */
export async function startEchoServer(family: 4 | 6 = 4): Promise<EchoServer> {
  const socket: Socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  // Big buffers on the host side as well: we test the engine, not the host's default 208 KiB.
  const server: EchoServer = {
    port: 0,
    received: 0,
    lastHash: '',
    lastLength: 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, remote) => {
    server.received++;
    server.lastLength = message.length;
    server.lastHash = createHash('sha256').update(message).digest('hex');
    socket.send(message, remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, family === 6 ? '::1' : '127.0.0.1', resolve));
  socket.setRecvBufferSize(1 << 20);
  socket.setSendBufferSize(1 << 20);
  server.port = socket.address().port;
  return server;
}

/** A free UDP port on host loopback (127.0.0.1, or ::1 for family 6) with nobody listening (bound, read, released). */
export async function closedPort(family: 4 | 6 = 4): Promise<number> {
  const s = createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => s.bind(0, family === 6 ? '::1' : '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
