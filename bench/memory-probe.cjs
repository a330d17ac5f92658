/**
 * bench/memory.ts --map loads this into tslirp's Node (NODE_OPTIONS=--require=…): on SIGUSR2 it writes
 * V8's view of the process (heap spaces, heap statistics, process.memoryUsage()) and glibc malloc's
 * totals (mallinfo2, through the addon named by $TSLIRP_MEMORY_PROBE_ADDON) as JSON to
 * $TSLIRP_MEMORY_PROBE_DIR/probe-PID.json. CommonJS on purpose: an --import preload would load Node's
 * ES module loader into a process that otherwise runs a CommonJS bundle (~11 MiB more RSS at idle).
 * A measurement aid only; never part of a build.
 */
'use strict';
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const v8 = require('node:v8');

const dir = process.env.TSLIRP_MEMORY_PROBE_DIR;
const addonPath = process.env.TSLIRP_MEMORY_PROBE_ADDON;

/** glibc malloc's totals through tslirp's addon (the same shared object the process loaded), if it has them. */
function mallocInfo() {
  try {
    return addonPath === undefined ? undefined : require(addonPath).mallocInfo();
  } catch {
    return undefined;
  }
}

if (dir !== undefined) {
  process.on('SIGUSR2', () => {
    const report = { spaces: v8.getHeapSpaceStatistics(), heap: v8.getHeapStatistics(), mem: process.memoryUsage(), malloc: mallocInfo() };
    writeFileSync(join(dir, `probe-${process.pid}.json`), JSON.stringify(report));
  });
}
