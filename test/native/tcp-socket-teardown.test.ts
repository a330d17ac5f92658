/**
 * The addon's TCP sockets when their environment goes: a worker thread that ends with sockets open
 * (one connected and watched, one connected and not) must not take the process with it. The epoll
 * set's poll handle closes on a later loop turn; with a plain cleanup hook the worker unloaded the
 * addon before that close callback ran (SIGSEGV). Run in a child process, since the failure is a crash.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/native/native-addon.js';

const ADDON = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');

const MAIN = `
const { Worker } = require('node:worker_threads');
const net = require('node:net');
const server = net.createServer((socket) => socket.on('error', () => {})).listen(0, '127.0.0.1', () => {
  const body = \`
    const addon = require(\${JSON.stringify(process.env.ADDON)});
    addon.tcpInit(() => {}, new Int32Array(3 * 64));
    addon.tcpOpen(0, '127.0.0.1', \${server.address().port}, undefined);
    addon.tcpOpen(1, '127.0.0.1', \${server.address().port}, undefined);
    setTimeout(() => { addon.tcpWatch(0, 1); setTimeout(() => process.exit(0), 50); }, 50);
  \`;
  const worker = new Worker(body, { eval: true });
  worker.on('error', (error) => console.log('worker error ' + error.message));
  worker.on('exit', (code) => setTimeout(() => { console.log('worker exited ' + code + ', main lives'); server.close(); }, 50));
});
`;

test('a worker ending with open TCP sockets leaves the process running', async () => {
  const run = await new Promise<{ signal: string | null; stdout: string }>((resolve) => {
    execFile(process.execPath, ['-e', MAIN], { env: { ...process.env, ADDON }, timeout: 20_000 }, (error, stdout) =>
      resolve({ signal: error?.signal ?? null, stdout }),
    );
  });
  expect(run).toMatchObject({ signal: null, stdout: 'worker exited 0, main lives\n' });
});
