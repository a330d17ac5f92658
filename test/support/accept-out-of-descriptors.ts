/**
 * Child process of native-tcp-listener.test.ts, run with a low descriptor limit (ulimit -n): a taken-over
 * listener meets EMFILE (every descriptor but one held, which the second client's socket takes), then
 * the descriptors are freed. Prints {"accepted": N, "cpuMs": M}: the clients accepted in the end and
 * the CPU spent while out of descriptors (a poll that kept reporting the waiting client would spin).
 */
import { closeSync, openSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { acceptClientsNatively } from '../../src/host/native-tcp-listener.js';

const server = createServer();
server.listen({ host: '127.0.0.1', port: 0 }, () => {
  const port = (server.address() as { port: number }).port;
  const accepted: number[] = [];
  const stop = acceptClientsNatively(server, (fd) => accepted.push(fd));
  if (stop === undefined) throw new Error('no descriptor to take over');
  const first = connect({ host: '127.0.0.1', port });
  first.on('connect', () => {
    const held: number[] = [];
    try {
      for (;;) held.push(openSync('/dev/null', 'r'));
    } catch {
      // EMFILE: every descriptor is taken.
    }
    closeSync(held.pop()!); // for the second client's own socket
    const second = connect({ host: '127.0.0.1', port });
    second.on('error', () => undefined);
    const before = process.cpuUsage();
    setTimeout(() => {
      const cpu = process.cpuUsage(before);
      for (const fd of held) closeSync(fd);
      setTimeout(() => {
        process.stdout.write(JSON.stringify({ accepted: accepted.length, cpuMs: (cpu.user + cpu.system) / 1000 }));
        stop();
        first.destroy();
        second.destroy();
      }, 300);
    }, 500);
  });
});
