import { dropPartialEnd, dropPartialStart } from './utf8.ts';

/**
 * Bounded capture of command output: keeps the first and the last half of `capBytes` (the start
 * shows what ran, the end usually holds the error) and counts what fell in between, so memory
 * stays bounded whatever the command prints.
 */
export class OutputCollector {
  private readonly headCap: number;
  private readonly tailCap: number;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(capBytes: number) {
    this.headCap = Math.ceil(capBytes / 2);
    this.tailCap = Math.floor(capBytes / 2);
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headBytes < this.headCap) {
      const take = Math.min(chunk.length, this.headCap - this.headBytes);
      this.head.push(chunk.subarray(0, take));
      this.headBytes += take;
      chunk = chunk.subarray(take);
    }
    if (chunk.length === 0 || this.tailCap === 0) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    // Drop whole chunks that no longer matter, then trim the oldest one.
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.tailCap) {
      this.tailBytes -= this.tail.shift()!.length;
    }
    if (this.tailBytes > this.tailCap) {
      this.tail[0] = this.tail[0]!.subarray(this.tailBytes - this.tailCap);
      this.tailBytes = this.tailCap;
    }
  }

  /** The captured text; when something was dropped, a "[output truncated: N bytes omitted]" line marks the gap. */
  text(): string {
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    if (this.total === head.length + tail.length) return Buffer.concat([head, tail]).toString('utf8');
    // Cut on character boundaries; the bytes given up there count as omitted too.
    const keptHead = toLineEnd(dropPartialEnd(head));
    const keptTail = fromLineStart(dropPartialStart(tail));
    const omitted = this.total - keptHead.length - keptTail.length;
    const before = keptHead.toString('utf8');
    const sep = before === '' || before.endsWith('\n') ? '' : '\n';
    return `${before}${sep}[output truncated: ${omitted} bytes omitted]\n${keptTail.toString('utf8')}`;
  }
}

// Whole lines read better around the gap; give up at most half of each part to get them.
function toLineEnd(buf: Buffer): Buffer {
  const nl = buf.lastIndexOf(0x0a);
  return nl >= buf.length / 2 ? buf.subarray(0, nl + 1) : buf;
}

function fromLineStart(buf: Buffer): Buffer {
  const nl = buf.indexOf(0x0a);
  return nl !== -1 && nl < buf.length / 2 ? buf.subarray(nl + 1) : buf;
}
