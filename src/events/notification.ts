import type { ChatEvent } from '../shared/types.ts';

// PostgreSQL caps a NOTIFY payload at 8000 bytes; bigger batches only announce their id range.
// Measured in UTF-8 bytes of the payload (pg-event-log.ts builds it in SQL, with octet_length).
export const MAX_INLINE_PAYLOAD_BYTES = 7_500;

type WireEvent = Pick<ChatEvent, 'id' | 'type' | 'data'>;

/** What one commit announces: the events themselves, or the id range listeners must read from the log. */
export type EventNotification =
  | { c: string; e: WireEvent[] }
  | { c: string; from: number; to: number };

/** Parses a payload; null for anything malformed (another writer on the channel must not crash listeners). */
export function decodeNotification(payload: string): EventNotification | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.c !== 'string') return null;
  if (Array.isArray(v.e)) {
    const events = v.e as WireEvent[];
    if (events.length === 0 || !events.every((e) => Number.isSafeInteger(e?.id) && typeof e.type === 'string')) return null;
    return { c: v.c, e: events };
  }
  if (Number.isSafeInteger(v.from) && Number.isSafeInteger(v.to)) return { c: v.c, from: v.from as number, to: v.to as number };
  return null;
}

/** Highest event id a notification announces. */
export function lastIdOf(note: EventNotification): number {
  return 'e' in note ? note.e.at(-1)!.id : note.to;
}
