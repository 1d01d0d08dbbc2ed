/** CRC16/XMODEM as Redis Cluster uses it (poly 0x1021, init 0). */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16(bytes: Uint8Array, seed = 0): number {
  let crc = seed;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ b) & 0xff] as number);
  return crc;
}

/** The hash tag Redis Cluster hashes for `key`, or null when the whole key is hashed. */
export function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return null;
  return key.slice(open + 1, close);
}

/** The Redis Cluster slot (0..16383) of a key. */
export function keySlot(key: string): number {
  const tag = hashTag(key);
  return crc16(Buffer.from(tag ?? key)) & 0x3fff;
}
