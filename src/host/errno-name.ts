/**
 * errno numbers as the names Node's errors carry ("ECONNREFUSED"): the code the engine's onError
 * handlers and logs use, for the host ports on the addon's sockets, which see bare numbers.
 */
import { constants as osConstants } from 'node:os';

const NAMES: string[] = [];
for (const [name, value] of Object.entries(osConstants.errno)) NAMES[value] ??= name;

/** The name of errno (positive), "EIO" for a number this platform does not name. */
export function errnoName(errno: number): string {
  return NAMES[errno] ?? 'EIO';
}
