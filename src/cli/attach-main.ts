/**
 * Minimal CLI: attach a TAP in the target namespace and run the engine on it until SIGTERM/SIGINT.
 * `tslirp [--configure|-c] [--mtu=N] [--macaddress=M] [--enable-offloads] PID|PATH [TAPNAME]`.
 *
 * Runs main() on import (bin/tslirp.js imports the compiled file). `--help` must never load the
 * engine or the native addon: both are imported lazily, after parsing. Errors end as one line on
 * stderr and a non-zero exit; an orderly stop closes the TAP and exits 0.
 */
import type { TapLink } from '../link/tap-link.js';
import type { Stack } from '../stack/stack.js';
import { ATTACH_USAGE, parseAttachArgs, type AttachArgs } from './attach-args.js';

function fail(message: string): number {
  process.stderr.write(`tslirp: ${message}\n`);
  return 1;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function run(args: AttachArgs): Promise<number> {
  // Attach before loading the engine: a bad PID or a busy TAP is reported without that cost.
  const { openTap } = await import('../link/tap-link.js');

  // Resolved once: by a signal (0) or by a device error (1).
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let onDeviceError = (message: string): void => {
    process.stderr.write(`tslirp: ${message}\n`);
    finish(1);
  };
  // Registered first: a stop requested while attaching still ends in an orderly exit 0.
  const onSignal = (): void => finish(0);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let link: TapLink;
  try {
    link = openTap({
      target: args.netnsType === 'pid' ? { pid: Number(args.target) } : { path: args.target },
      usernsPath: args.usernsPath,
      tapName: args.tapName,
      configure: args.configure ? { mtu: args.mtu, macAddress: args.macAddress } : undefined,
      offloads: args.offloads,
      mtu: args.mtu,
      onError: (error) => onDeviceError(error.message),
    });
  } catch (error) {
    return fail(describe(error));
  }
  let stack: Stack;
  try {
    const [{ Stack }, { pino }] = await Promise.all([import('../stack/stack.js'), import('pino')]);
    const logger = pino({ level: process.env.TSLIRP_LOG_LEVEL ?? 'info' }, pino.destination(2));
    onDeviceError = (message) => {
      logger.error(message);
      finish(1);
    };
    stack = new Stack(link, { logger });
  } catch (error) {
    link.close();
    return fail(describe(error));
  }
  process.stdout.write(`attached to ${link.name} in ${args.target}\n`);

  stack.start();
  const offloads = link.offloads.tso ? `, offloads: csum${link.rxTso ? '+tso' : ''}` : '';
  process.stdout.write(`starting slirp, MTU=${link.mtu}${offloads}\n`);
  process.stdout.write(`* ${stack.describe()}\n`);

  const code = await finished;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  stack.close(); // closes the link: reader thread stopped, TAP fd closed
  return code;
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: AttachArgs;
  try {
    args = parseAttachArgs(argv);
  } catch (error) {
    return fail(describe(error));
  }
  if (args.help) {
    process.stdout.write(ATTACH_USAGE);
    return 0;
  }
  try {
    return await run(args);
  } catch (error) {
    return fail(describe(error));
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(fail(describe(error))),
);
