/**
 * The CLI's JSON logger writes pino's line format (what log readers and pino-pretty expect): numeric
 * level, time, pid, hostname, name, the fields, msg last; errors under `err` with type, message,
 * stack and their own fields; levels below the threshold cost nothing and print nothing.
 */
import { hostname } from 'node:os';
import { describe, expect, test } from 'vitest';
import { JsonLogger, logLevelFrom } from '../../src/cli/json-logger.js';

function capture(level: Parameters<typeof logLevelFrom>[1], name?: string) {
  const lines: string[] = [];
  const logger = new JsonLogger({ level, name, destination: (line) => lines.push(line) });
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('JsonLogger', () => {
  test('one pino-shaped JSON object per line, msg last', () => {
    const { logger, lines, parsed } = capture('info', 'tslirp');
    logger.info({ tap: 'tap0', mtu: 65520 }, 'ready');
    logger.warn('plain text');
    expect(lines.every((line) => line.endsWith('}\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    const [ready, plain] = parsed();
    expect(Object.keys(ready)).toEqual(['level', 'time', 'pid', 'hostname', 'name', 'tap', 'mtu', 'msg']);
    expect(ready).toMatchObject({ level: 30, pid: process.pid, hostname: hostname(), name: 'tslirp', tap: 'tap0', mtu: 65520, msg: 'ready' });
    expect(Math.abs((ready.time as number) - Date.now())).toBeLessThan(5000);
    expect(plain).toMatchObject({ level: 40, msg: 'plain text' });
  });

  test('levels: below the threshold nothing is written; isLevelEnabled agrees; silent is silent', () => {
    const { logger, parsed } = capture('warn');
    logger.debug('no');
    logger.info({ a: 1 }, 'no');
    logger.warn('yes');
    logger.error('yes');
    expect(parsed().map((line) => line.level)).toEqual([40, 50]);
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'bogus'].map((l) => logger.isLevelEnabled(l))).toEqual([
      false, false, false, true, true, true, false, false,
    ]);
    const silent = capture('silent');
    silent.logger.error('never');
    expect(silent.lines).toEqual([]);
  });

  test('errors are serialized as pino does: type, message, stack and their own fields', () => {
    const { logger, parsed } = capture('debug');
    const error = Object.assign(new RangeError('port out of range'), { code: 'ERR_SOCKET_BAD_PORT' });
    logger.error({ err: error, port: 70000 }, 'add_hostfwd failed');
    logger.error(new Error('bare error'));
    const [withFields, bare] = parsed();
    expect(withFields).toMatchObject({ port: 70000, msg: 'add_hostfwd failed', err: { type: 'RangeError', message: 'port out of range', code: 'ERR_SOCKET_BAD_PORT' } });
    expect((withFields.err as { stack: string }).stack).toMatch(/^RangeError: port out of range\n\s+at /);
    expect(bare).toMatchObject({ msg: 'bare error', err: { type: 'Error', message: 'bare error' } });
  });

  test('fields that cannot be serialized do not throw', () => {
    const { logger, parsed } = capture('info');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => logger.info({ cyclic, big: 1n }, 'odd fields')).not.toThrow();
    expect(parsed()[0]).toMatchObject({ msg: 'odd fields', fields: '(not serializable)' });
  });

  test('TSLIRP_LOG_LEVEL: unset or empty gives the default, a known name is taken, anything else is a clear error', () => {
    expect(logLevelFrom(undefined, 'info')).toBe('info');
    expect(logLevelFrom('', 'warn')).toBe('warn');
    expect(logLevelFrom('debug', 'info')).toBe('debug');
    expect(() => logLevelFrom('verbose', 'info')).toThrow('TSLIRP_LOG_LEVEL must be one of trace|debug|info|warn|error|fatal|silent, got "verbose"');
  });
});
