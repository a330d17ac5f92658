/**
 * The API socket: a unix stream socket speaking the slirp4netns protocol (api-protocol.ts).
 *
 * One request per connection: read until the client shuts down its write side (or until the bytes
 * so far already form a complete JSON value, so a client that forgets to shut down is answered too),
 * at most API_MAX_REQUEST bytes; answer with one write of compact JSON (podman reads the answer with a
 * single 2048-byte read); close. The socket file is unlinked before bind (RootlessKit kills us with
 * SIGKILL, leaving a stale one), created mode 0600, and unlinked again on close(). Or, from the
 * launcher (bin/tslirp), an already listening socket bound at that path is adopted (`fd`).
 *
 * Must never let a client stop the process: every error ends that connection only.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { API_MAX_REQUEST, errorResponse, API_ERRORS, handleApiRequest, parseFirstJsonValue, type ApiContext } from './api-protocol.js';

export interface ApiServerOptions extends ApiContext {
  readonly path: string;
  /** A unix socket already bound at path and listening (the launcher's), adopted instead of binding. */
  readonly fd?: number;
  /** Told each request and answer (slirp4netns prints `api_handler: got request: …` on stderr). */
  readonly onRequest?: (request: string, response: string) => void;
  /** A client that sends nothing conclusive for this long is answered with what it sent. Default 10 s. */
  readonly idleTimeoutMs?: number;
}

function unlinkIfSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to remove
  }
}

export class ApiServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private listening = false;

  private constructor(private readonly options: ApiServerOptions) {
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.serve(socket));
  }

  /** Binds and listens; resolves once clients can connect. */
  static async listen(options: ApiServerOptions): Promise<ApiServer> {
    const api = new ApiServer(options);
    if (options.fd !== undefined) {
      const fd = options.fd;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => reject(new Error(`cannot listen on API socket ${options.path} (fd ${fd}): ${error.message}`));
        api.server.once('error', onError);
        api.server.listen({ fd }, () => {
          api.server.off('error', onError);
          resolve();
        });
      });
      api.listening = true;
      api.server.on('error', () => undefined);
      return api;
    }
    // As slirp4netns: remove whatever is at the path (a stale socket after SIGKILL); a regular file
    // there is left alone and the bind fails with EADDRINUSE, which is reported.
    unlinkIfSocket(options.path);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new Error(`cannot listen on API socket ${options.path}: ${error.message}`));
      api.server.once('error', onError);
      // Node binds synchronously inside listen(): a umask of 0177 makes the file 0600 from the start.
      const previous = process.umask(0o177);
      try {
        api.server.listen(options.path, () => {
          api.server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
    chmodSync(options.path, 0o600);
    api.listening = true;
    api.server.on('error', () => undefined);
    return api;
  }

  get path(): string {
    return this.options.path;
  }

  /** Stops accepting, ends open connections, removes the socket file. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    unlinkIfSocket(this.options.path);
  }

  /** Synchronous part of close() for exit paths that cannot wait: the file is gone when it returns. */
  closeNow(): void {
    if (!this.listening) return;
    this.listening = false;
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    unlinkIfSocket(this.options.path);
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const chunks: Buffer[] = [];
    let length = 0;
    let concluded = false;
    const answer = (response: string, request: string): void => {
      socket.setTimeout(0);
      socket.pause();
      this.options.onRequest?.(request, response);
      // One write, then FIN; destroy once flushed so a client that never closes cannot hold us.
      socket.end(response, () => socket.destroy());
    };
    const conclude = (): void => {
      if (concluded) return;
      concluded = true;
      const request = Buffer.concat(chunks, length);
      if (request.length >= API_MAX_REQUEST) {
        answer(errorResponse(API_ERRORS.tooLarge), `(${request.length} bytes)`);
        return;
      }
      const text = request.toString('utf8');
      handleApiRequest(request, this.options).then(
        (response) => answer(response, text),
        () => answer(errorResponse(API_ERRORS.cannotParse), text),
      );
    };
    socket.setTimeout(this.options.idleTimeoutMs ?? 10_000, conclude);
    socket.on('data', (chunk: Buffer) => {
      if (concluded) return;
      chunks.push(chunk);
      length += chunk.length;
      if (length >= API_MAX_REQUEST) return conclude();
      // Without waiting for EOF when the request is already complete (a client that never shuts down).
      const text = Buffer.concat(chunks, length).toString('utf8');
      const parsed = parseFirstJsonValue(text);
      if (parsed !== undefined && typeof parsed.value === 'object' && parsed.value !== null && /[}\]]\s*$/.test(text)) conclude();
    });
    socket.on('end', conclude);
  }
}
