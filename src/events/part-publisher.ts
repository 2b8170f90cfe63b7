import type { StreamPart } from '../shared/types.ts';
import type { EventLog, PartPublisher } from './event-log.ts';

export interface PartPublisherOptions {
  chatId: string;
  messageId: string;
  /** Activity attempt: lets clients drop the deltas of a failed attempt when a retry starts over. */
  attempt: number;
  coalesceMs?: number;
}

/** Appends `part` to `buffer`, merging it into the last buffered part when both are deltas of the same thing. */
function merge(buffer: StreamPart[], part: StreamPart): void {
  const last = buffer.at(-1);
  if (last?.type === 'text' && part.type === 'text') {
    buffer[buffer.length - 1] = { type: 'text', text: last.text + part.text };
    return;
  }
  // A signature closes a thinking block and a redacted block stands alone: neither takes more text.
  if (last?.type === 'reasoning' && part.type === 'reasoning'
    && last.signature === undefined && last.redacted === undefined && part.redacted === undefined) {
    buffer[buffer.length - 1] = { ...last, ...part, text: last.text + part.text };
    return;
  }
  if (last?.type === 'tool_call' && part.type === 'tool_call' && last.toolCallId === part.toolCallId
    && last.args === undefined && part.args === undefined
    && last.argsDelta !== undefined && part.argsDelta !== undefined) {
    buffer[buffer.length - 1] = { ...last, argsDelta: last.argsDelta + part.argsDelta };
    return;
  }
  buffer.push({ ...part });
}

/**
 * Buffers the streaming deltas of one message and appends them at most every `coalesceMs`, one append
 * at a time so events keep the order the provider produced them in.
 */
export function createPartPublisher(log: EventLog, options: PartPublisherOptions): PartPublisher {
  const { chatId, messageId, attempt } = options;
  const coalesceMs = options.coalesceMs ?? 20;
  let buffer: StreamPart[] = [];
  let timer: NodeJS.Timeout | null = null;
  let inflight: Promise<void> | null = null;
  let lastStart = 0;
  // Sticky: once deltas are lost the stream is incomplete; callers must see it, not just the next one.
  let failure: { err: unknown } | null = null;

  function schedule(): void {
    if (timer || inflight || buffer.length === 0) return;
    const wait = Math.max(0, coalesceMs - (Date.now() - lastStart));
    timer = setTimeout(write, wait);
  }

  function write(): void {
    timer = null;
    if (inflight || buffer.length === 0 || failure) return;
    const batch = buffer;
    buffer = [];
    lastStart = Date.now();
    inflight = log.append(chatId, batch.map((part) => ({ type: 'message_part', data: { messageId, attempt, part } })))
      .then(() => {}, (err: unknown) => {
        failure = { err };
      })
      .finally(() => {
        inflight = null;
        schedule();
      });
  }

  return {
    part(part) {
      if (failure) throw failure.err;
      merge(buffer, part);
      schedule();
    },

    async flush() {
      if (timer) clearTimeout(timer);
      timer = null;
      while (!failure && (inflight || buffer.length > 0)) {
        if (!inflight) write();
        await inflight;
        if (timer) clearTimeout(timer);
        timer = null;
      }
      if (failure) throw failure.err;
    },
  };
}
