/**
 * The addon's UDP sockets when their environment goes: a worker thread that ends with sockets still
 * open must not take the process with it (Node checks that a worker's event loop has no open
 * handles left when it closes it, and aborts otherwise). Run in a child process, since the failure
 * is an abort.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { packageRoot } from '../../src/native/native-addon.js';

const ADDON = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');

/** A worker opens two sockets (one has sent, one is idle), then exits; the main thread says it lives on. */
const MAIN = `
const { Worker } = require('node:worker_threads');
const body = \`
  const addon = require(\${JSON.stringify(process.env.ADDON)});
  addon.udpInit(() => {}, new Uint8Array(24));
  if (addon.udpOpen(0, 4, undefined) !== 0 || addon.udpOpen(1, 6, undefined) !== 0) throw new Error('open');
  addon.udpSend(0, new Uint8Array(1), '127.0.0.1', 9);
  setTimeout(() => process.exit(0), 50);
\`;
const worker = new Worker(body, { eval: true });
worker.on('exit', (code) => setTimeout(() => console.log('worker exited ' + code + ', main lives'), 50));
`;

test('a worker ending with open UDP sockets leaves the process running', async () => {
  const run = await new Promise<{ signal: string | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['-e', MAIN], { env: { ...process.env, ADDON }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ signal: error?.signal ?? null, stdout, stderr: stderr.split('\n').slice(0, 3).join('\n') }),
    );
  });
  expect(run).toMatchObject({ signal: null, stdout: 'worker exited 0, main lives\n' });
});
