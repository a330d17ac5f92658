/**
 * A slirp4netns API client as podman and RootlessKit behave: connect to the unix socket, write the
 * request, shut down the write side, read the answer until EOF. Also records how many reads the answer
 * took, since podman reads it with a single 2048-byte read.
 */
import { connect } from 'node:net';

export interface ApiExchange {
  readonly text: string;
  readonly chunks: number;
}

export function apiRequest(path: string, request: string | Uint8Array, options: { shutdown?: boolean; timeoutMs?: number } = {}): Promise<ApiExchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`API request timed out: ${String(request).slice(0, 80)}`));
    }, options.timeoutMs ?? 5000);
    socket.on('connect', () => {
      if (options.shutdown === false) socket.write(request);
      else socket.end(request);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may close before reading everything (too large): a reset after the answer is fine.
    socket.on('error', (error) => {
      if (chunks.length > 0) return;
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), chunks: chunks.length });
    });
  });
}
