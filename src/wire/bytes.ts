/**
 * Big-endian field access on plain Uint8Arrays, and MAC addresses (IP address text forms are in
 * ip-address.ts).
 *
 * Reads go through the Uint8Array directly (no DataView per frame: see STYLE.md's cost table).
 * Callers check bounds once, in the view's wrap(); these helpers do not.
 */

export const EMPTY_BYTES = new Uint8Array(0);

export function readUint16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function readUint32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function writeUint16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function writeUint32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** A MAC address as a 48-bit integer (exact in a double), so it can be compared and stored without allocation. */
export function readMac(b: Uint8Array, o: number): number {
  return ((b[o] << 8) | b[o + 1]) * 0x1_0000_0000 + readUint32(b, o + 2);
}

export function writeMac(b: Uint8Array, o: number, mac: number): void {
  const high = Math.floor(mac / 0x1_0000_0000);
  writeUint16(b, o, high);
  writeUint32(b, o + 2, mac >>> 0);
}

export const BROADCAST_MAC = 0xffff_ffff_ffff;

/** "52:55:0a:00:02:02" → 48-bit integer; undefined when malformed. */
export function parseMac(text: string): number | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  if (!m) return undefined;
  let mac = 0;
  for (let i = 1; i <= 6; i++) mac = mac * 256 + parseInt(m[i], 16);
  return mac;
}

export function formatMac(mac: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) parts.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return parts.join(':');
}
