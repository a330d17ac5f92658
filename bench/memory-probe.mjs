/**
 * bench/memory.ts --map loads this into tslirp's Node (NODE_OPTIONS=--import=…): on SIGUSR2 it writes
 * V8's view of the process (heap spaces, heap statistics, process.memoryUsage()) as JSON to
 * $TSLIRP_MEMORY_PROBE_DIR/probe-PID.json. A measurement aid only; never part of a build.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';

const dir = process.env.TSLIRP_MEMORY_PROBE_DIR;
if (dir !== undefined) {
  process.on('SIGUSR2', () => {
    const report = { spaces: v8.getHeapSpaceStatistics(), heap: v8.getHeapStatistics(), mem: process.memoryUsage() };
    writeFileSync(join(dir, `probe-${process.pid}.json`), JSON.stringify(report));
  });
}
