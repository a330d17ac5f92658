/**
 * Loopback peers for the tests of the UDP host-socket ports (NodeUdpPort, NativeUdpPort): a server
 * that records who sent each datagram and echoes it, a port known to be closed, and a poll-until.
 * Loopback only (127.0.0.1, ::1).
 */
import { createSocket, type Socket } from 'node:dgram';

export interface UdpLoopbackServer {
  readonly socket: Socket;
  readonly port: number;
  /** "address:port" of every datagram's sender. */
  readonly peers: string[];
}

/** A socket on host that echoes every datagram (unless echo is false); the caller closes it. */
export async function udpLoopbackServer(host: string, echo = true): Promise<UdpLoopbackServer> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const peers: string[] = [];
  socket.on('message', (msg, rinfo) => {
    peers.push(`${rinfo.address}:${rinfo.port}`);
    if (echo) socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { socket, port: socket.address().port, peers };
}

/** A port on host that was bound a moment ago and is closed now (ICMP port unreachable answers it). */
export async function closedUdpPort(host: string): Promise<number> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => s.bind(0, host, resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Resolves once what() holds; rejects after ms. */
export async function until(what: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
