// Cutting UTF-8 at byte limits without splitting a character (which would show up as U+FFFD).

const isContinuation = (byte: number | undefined): boolean => byte !== undefined && (byte & 0xc0) === 0x80;

/** The longest prefix of `buf` of at most `max` bytes that ends on a character boundary. */
export function headUtf8(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return dropPartialEnd(buf);
  let end = max;
  while (end > 0 && isContinuation(buf[end])) end--;
  return buf.subarray(0, end);
}

/** `buf` without an incomplete character at its end. */
export function dropPartialEnd(buf: Buffer): Buffer {
  let i = buf.length - 1;
  while (i >= 0 && isContinuation(buf[i])) i--;
  if (i < 0) return buf.subarray(0, 0);
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return buf.length - i < need ? buf.subarray(0, i) : buf;
}

/** `buf` without the continuation bytes of a character that began before it. */
export function dropPartialStart(buf: Buffer): Buffer {
  let start = 0;
  while (start < buf.length && isContinuation(buf[start])) start++;
  return buf.subarray(start);
}
