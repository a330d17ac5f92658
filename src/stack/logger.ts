/**
 * How the engine logs: a small interface with the four levels it uses. The CLI passes a JsonLogger
 * (src/cli/json-logger.ts: pino's JSON line format on stderr); an embedding program may pass a pino
 * logger, which satisfies this interface as it is. A silent logger is the default, so embedding
 * programs and packet tests pay nothing.
 *
 * Call shapes: `logger.warn('text')`, `logger.warn({ key: value }, 'text')`, and `{ err }` for an
 * error. Must never throw: a log line is never worth a frame.
 */

/** pino's level names, lowest first; "silent" logs nothing. */
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

export type LogMethod = (fieldsOrMessage: object | string, message?: string) => void;

export interface Logger {
  isLevelEnabled(level: string): boolean;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const nothing: LogMethod = () => undefined;

/** A logger that logs nothing (a fresh object: a caller may replace a method to listen to one level). */
export function silentLogger(): Logger {
  return { isLevelEnabled: () => false, debug: nothing, info: nothing, warn: nothing, error: nothing };
}
