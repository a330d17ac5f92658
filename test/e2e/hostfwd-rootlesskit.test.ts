/**
 * RootlessKit 1.1.0 (Debian `rootlesskit`) with tslirp as its slirp4netns binary and port driver, as
 * CLIENTS.md's recipe: an unprivileged user with /etc/subuid and /etc/subgid ranges, /dev/net/tun
 * open to all, `rootlesskit --net=slirp4netns --slirp4netns-binary=bin/tslirp
 * --port-driver=slirp4netns`, then `rootlessctl add-ports` publishes a server of the child.
 *
 * Checked always: RootlessKit accepts our --help (it refuses a binary without --netns-type), starts us
 * (ready fd), add-ports/list-ports/remove-ports go through our API socket, a host client reaches the
 * child's TCP and UDP servers through published ports (as 10.0.2.2), and the child reaches a host
 * server via 10.0.2.2.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { asUser, namespacePrerequisite, nsExec, openTunToAll, OutputLog, requireOrSkip, waitFor } from '../support/netns.js';
import { freePort, testResources } from '../support/published-guest.js';
import { rootlessUser, rootlesskitPrerequisite } from '../support/rootless-user.js';
import { builtCliPrerequisite, TSLIRP_BIN } from '../support/tslirp-process.js';

const execFileAsync = promisify(execFile);
const { tracker, cleanups, release } = testResources(3000);
afterEach(release);

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Sends a datagram to 127.0.0.1:port until an answer comes (the first may race the server). */
async function udpExchange(port: number): Promise<string> {
  const socket = createSocket('udp4');
  try {
    const answer = new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString())));
    for (let attempt = 0; attempt < 20; attempt++) {
      socket.send('who am i\n', port, '127.0.0.1');
      const got = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
      if (got !== undefined) return got;
    }
    throw new Error(`no UDP answer through 127.0.0.1:${port}`);
  } finally {
    socket.close();
  }
}

function readAll(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port} (got "${text}")`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

describe('rootlesskit --net=slirp4netns --port-driver=slirp4netns with tslirp', () => {
  it('starts tslirp, publishes a port with rootlessctl, and carries traffic both ways', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }) ?? rootlesskitPrerequisite() ?? builtCliPrerequisite());
    const user = rootlessUser();
    cleanups.push(openTunToAll());
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-rk-'));
    chmodSync(dir, 0o755);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const stateDir = join(dir, 'state');
    execFileSync('install', ['-d', '-o', String(user.uid), '-g', String(user.gid), stateDir]);

    // A host server the child reaches via 10.0.2.2 (host loopback is allowed in this run).
    const hostServer: Server = createServer((socket) => socket.end('host says hi\n'));
    await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => hostServer.close(() => resolve())));
    const hostPort = (hostServer.address() as { port: number }).port;

    const childScript = [
      'socat TCP-LISTEN:8080,reuseaddr,fork SYSTEM:"echo child says hi; echo peer \\$SOCAT_PEERADDR" &',
      'echo $! > ' + join(stateDir, 'socat.pid'),
      'socat UDP-RECVFROM:8081,fork SYSTEM:"echo udp peer \\$SOCAT_PEERADDR" &',
      'echo $! > ' + join(stateDir, 'socat-udp.pid'),
      'exec sleep 600',
    ].join('\n');
    const [command, args] = asUser(user, 'rootlesskit', [
      '--net=slirp4netns',
      `--slirp4netns-binary=${TSLIRP_BIN}`,
      '--port-driver=slirp4netns',
      `--state-dir=${stateDir}`,
      '--copy-up=/etc',
      'sh',
      '-c',
      childScript,
    ]);
    const env = { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` };
    const rootlesskit = tracker.spawn(command, args, undefined, env);
    const log = new OutputLog(rootlesskit);
    const apiSocket = join(stateDir, 'api.sock');
    await waitFor(
      'rootlesskit to start (child pid and API socket)',
      () => {
        if (rootlesskit.exitCode !== null) throw new Error(`rootlesskit exited ${rootlesskit.exitCode}: ${log.text}`);
        return existsSync(join(stateDir, 'child_pid')) && existsSync(apiSocket) && existsSync(join(stateDir, '.s4nn.sock'));
      },
      20_000,
      50,
    );
    const childPid = Number(readFileSync(join(stateDir, 'child_pid'), 'utf8'));
    // The child's background server outlives RootlessKit's SIGTERM: end it by its PID afterwards.
    for (const name of ['socat.pid', 'socat-udp.pid']) {
      const file = join(stateDir, name);
      await waitFor(`the child server pid (${name})`, () => existsSync(file) && readFileSync(file, 'utf8').trim() !== '');
      const pid = Number(readFileSync(file, 'utf8'));
      cleanups.push(() => {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      });
    }
    // tslirp is running as RootlessKit's slirp4netns, as the unprivileged user (bin/tslirp execs Node on the CLI's bundle, dist/bundle/main.cjs).
    const ps = execFileSync('ps', ['-o', 'user=,args=', '--ppid', String(rootlesskit.pid)], { encoding: 'utf8' });
    expect(ps).toMatch(/dist\/bundle\/main\.cjs --mtu 65520 -r 3 .*--api-socket \S+\.s4nn\.sock \d+ tap0/);

    const rootlessctl = async (...argv: string[]): Promise<string> => {
      const [c, a] = asUser(user, 'rootlessctl', ['--socket', apiSocket, ...argv]);
      return (await execFileAsync(c, a, { encoding: 'utf8', timeout: 10_000 })).stdout;
    };
    const published = await freePort();
    expect(await rootlessctl('add-ports', `127.0.0.1:${published}:8080/tcp`)).toMatch(/^1\s*$/m);
    expect(await rootlessctl('list-ports')).toMatch(new RegExp(`^1\\s+tcp\\s+127\\.0\\.0\\.1\\s+${published}\\s+8080\\s*$`, 'm'));
    const publishedUdp = await freeUdpPort();
    expect(await rootlessctl('add-ports', `127.0.0.1:${publishedUdp}:8081/udp`)).toMatch(/^2\s*$/m);

    // Host client → published port → child's server; a loopback client appears as 10.0.2.2.
    const answer = await readAll('127.0.0.1', published);
    expect(answer).toBe('child says hi\npeer 10.0.2.2\n');
    // Child → 10.0.2.2 → host loopback server.
    const fromChild = await nsExec(childPid, 'socat', ['-T', '5', '-', `TCP:10.0.2.2:${hostPort}`], 15_000);
    expect(fromChild).toBe('host says hi\n');
    // UDP: a host client's datagram reaches the child's server as 10.0.2.2; the answer comes back.
    expect(await udpExchange(publishedUdp)).toBe('udp peer 10.0.2.2\n');

    expect((await rootlessctl('remove-ports', '1', '2')).split(/\s+/).filter(Boolean)).toEqual(['1', '2']);
    const left = await rootlessctl('list-ports');
    expect(left).not.toContain(String(published));
    expect(left).not.toContain(String(publishedUdp));
  });
});
