/**
 * The CLI's logger: one JSON object per line on a file descriptor (stderr), in pino's format
 * (`{"level":30,"time":…,"pid":…,"hostname":…,"name":"tslirp",…fields,"msg":"…"}`, numeric levels
 * 10–60, errors under `err` as {type, message, stack, code…}), so pino-pretty and log collectors read
 * it as before. Written synchronously, like pino.destination({ sync: true }): a line is out before
 * the process can die.
 *
 * Why not pino itself: loading it (sonic-boom, thread-stream, worker_threads, its serializers) cost
 * about 7 MB of RSS in every idle tslirp process, for the four methods the engine uses.
 *
 * Never throws and never blocks for long: a stderr that stays full (EAGAIN) for LINE_WAIT_MS drops
 * the line; a closed one (EPIPE) ends logging.
 */
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { LOG_LEVEL_NAMES, type Logger, type LogLevelName, type LogMethod } from '../stack/logger.js';

const LEVEL_VALUES: Record<LogLevelName, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
/** How long one line may wait for a full non-blocking stderr before it is dropped. */
const LINE_WAIT_MS = 100;

export interface JsonLoggerOptions {
  readonly level: LogLevelName;
  /** Written as "name" on every line (pino's `name`). */
  readonly name?: string;
  /** Where lines go: a file descriptor (default 2), or a function (tests). */
  readonly destination?: number | ((line: string) => void);
}

/** A level from the environment (TSLIRP_LOG_LEVEL): unset or empty gives fallback; anything else unknown is an error. */
export function logLevelFrom(text: string | undefined, fallback: LogLevelName): LogLevelName {
  if (text === undefined || text === '') return fallback;
  if ((LOG_LEVEL_NAMES as readonly string[]).includes(text)) return text as LogLevelName;
  throw new Error(`TSLIRP_LOG_LEVEL must be one of ${LOG_LEVEL_NAMES.join('|')}, got "${text}"`);
}

/** pino's std serializer for errors, in short: type, message, stack and the enumerable fields (code, errno, syscall…). */
function serializeError(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: error.constructor?.name ?? 'Error', message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (!(key in out)) out[key] = value;
  if (error.cause instanceof Error) out.cause = serializeError(error.cause);
  return out;
}

export class JsonLogger implements Logger {
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
  private readonly threshold: number;
  private readonly prefix: string;
  private readonly write: (line: string) => void;
  private broken = false;

  constructor(options: JsonLoggerOptions) {
    this.threshold = LEVEL_VALUES[options.level];
    this.prefix = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}${options.name ? `,"name":${JSON.stringify(options.name)}` : ''}`;
    const destination = options.destination ?? 2;
    this.write = typeof destination === 'function' ? destination : (line) => this.writeFd(destination, line);
    this.debug = this.method(LEVEL_VALUES.debug);
    this.info = this.method(LEVEL_VALUES.info);
    this.warn = this.method(LEVEL_VALUES.warn);
    this.error = this.method(LEVEL_VALUES.error);
  }

  isLevelEnabled(level: string): boolean {
    const value = LEVEL_VALUES[level as LogLevelName];
    return value !== undefined && value !== Infinity && value >= this.threshold;
  }

  private method(level: number): LogMethod {
    if (level < this.threshold) return () => undefined;
    return (fieldsOrMessage, message) => this.log(level, fieldsOrMessage, message);
  }

  private log(level: number, fieldsOrMessage: object | string, message: string | undefined): void {
    if (this.broken) return;
    let fields: object | undefined;
    let msg = message;
    if (typeof fieldsOrMessage === 'string') msg = fieldsOrMessage;
    else if (fieldsOrMessage instanceof Error) {
      fields = { err: serializeError(fieldsOrMessage) };
      msg ??= fieldsOrMessage.message;
    } else fields = fieldsOrMessage;
    let body = '';
    try {
      if (fields !== undefined) {
        for (const [key, value] of Object.entries(fields)) {
          if (value === undefined) continue;
          body += `,${JSON.stringify(key)}:${JSON.stringify(value instanceof Error ? serializeError(value) : value) ?? 'null'}`;
        }
      }
    } catch {
      body = ',"fields":"(not serializable)"';
    }
    if (msg !== undefined) body += `,"msg":${JSON.stringify(msg)}`;
    this.write(`{"level":${level},"time":${Date.now()}${this.prefix}${body}}\n`);
  }

  private writeFd(fd: number, line: string): void {
    const bytes = Buffer.from(line);
    let offset = 0;
    let waitedSince = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(fd, bytes, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') {
          this.broken = code === 'EPIPE' || code === 'EBADF';
          return;
        }
        const now = performance.now();
        if (waitedSince === 0) waitedSince = now;
        else if (now - waitedSince > LINE_WAIT_MS) return;
        Atomics.wait(SLEEPER, 0, 0, 1); // 1 ms, without a busy loop
      }
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
