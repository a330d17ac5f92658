/**
 * What an end-to-end test says when a transfer through tslirp fails: the error (with the client's
 * stderr, see nsExec), tslirp's flow table as get_stats and debug_flows see it at that moment, and
 * the end of tslirp's log. A stalled flow is diagnosed from that state, not from "Command failed".
 */
import { apiRequest } from './api-client.js';
import type { TslirpProcess } from './tslirp-process.js';

export interface TransferContext {
  readonly apiSocket?: string;
  readonly tslirp?: TslirpProcess;
}

/** get_stats and debug_flows, as text for a failure message (never throws). */
export async function flowReport(apiSocket: string): Promise<string> {
  const ask = async (execute: string): Promise<string> => {
    try {
      return (await apiRequest(apiSocket, JSON.stringify({ execute }), { timeoutMs: 5000 })).text;
    } catch (error) {
      return `(${execute} failed: ${error instanceof Error ? error.message : String(error)})`;
    }
  };
  return `--- get_stats ---\n${await ask('get_stats')}\n--- debug_flows ---\n${await ask('debug_flows')}`;
}

/** Runs a transfer; when it fails, rethrows with the flow report and the end of tslirp's log added. */
export async function reportOnFailure<T>(context: TransferContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const parts = [error instanceof Error ? error.message : String(error)];
    if (context.apiSocket !== undefined) parts.push(await flowReport(context.apiSocket));
    if (context.tslirp !== undefined) parts.push(`--- tslirp log (end) ---\n${context.tslirp.log.text.split('\n').slice(-40).join('\n')}`);
    throw new Error(parts.join('\n'));
  }
}
