/**
 * The engine logs through pino. A silent logger is the default so embedding programs and packet
 * tests pay nothing; callers that want logs pass their own (the CLI passes one writing JSON to stderr).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
