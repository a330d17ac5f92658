/**
 * Where the engine reports its own bugs: an exception caught while handling one frame, one flow's
 * host event, or one timer. The part that caught it contains the damage (drops the frame, resets
 * the flow, closes the binding); this counts it and logs it, rate limited, so one bug hit by every
 * frame of a flood costs a counter increment per hit and a log line per cause per minute, not a
 * log line per frame.
 *
 * A cause is where it was caught plus the error's message and the first frame of its stack: the
 * first time a cause is seen it is logged at error level with the whole stack; later hits are
 * summed and logged at most once per interval. Must never throw (it runs inside catch blocks).
 */
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** Hits of one cause between two log lines are summed for this long. */
export const FAULT_LOG_INTERVAL_MS = 60_000;
/** Distinct causes remembered; beyond this, new ones share one entry (a bug storm cannot grow the map). */
const MAX_CAUSES = 64;
const OTHER_CAUSES = 'other causes';

interface CauseRecord {
  /** Hits since the last log line. */
  unlogged: number;
  lastLoggedAt: number;
}

export class FaultLog {
  private readonly causes = new Map<string, CauseRecord>();

  constructor(
    /** Counts every report (the stats' `faults`). */
    private readonly counter: { faults: number },
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly intervalMs = FAULT_LOG_INTERVAL_MS,
  ) {}

  /** where: what was being handled ("guest frame", "tcp host event", …); contained: what was done about it. */
  report(where: string, error: unknown, contained: string): void {
    this.counter.faults++;
    try {
      let cause = `${where}: ${describe(error)}`;
      let record = this.causes.get(cause);
      if (record === undefined && this.causes.size >= MAX_CAUSES) {
        cause = OTHER_CAUSES;
        record = this.causes.get(cause);
      }
      const now = this.clock.now();
      if (record === undefined) {
        this.causes.set(cause, { unlogged: 0, lastLoggedAt: now });
        this.logger.error({ err: error, where, contained }, `internal error (contained: ${contained}); further ones like it are summed per minute`);
        return;
      }
      record.unlogged++;
      if (now - record.lastLoggedAt < this.intervalMs) return;
      this.logger.error({ cause, times: record.unlogged, contained }, 'internal error repeated');
      record.unlogged = 0;
      record.lastLoggedAt = now;
    } catch {
      // The logger itself failed: the counter above is all we can keep.
    }
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // The first frame below the message says where it was thrown: two bugs with one message stay apart.
  const frame = error.stack?.split('\n').find((line) => line.trimStart().startsWith('at '));
  return `${error.name}: ${error.message}${frame ? ` ${frame.trim()}` : ''}`;
}
