// Every PostgreSQL NOTIFY channel Parley uses, and who sends on it. Listened to through
// src/events/pg-listener.ts.
import type { Queryable } from '../db/rows.ts';

/** New chat events (src/events/notification.ts has the payload), sent by the event log's append. */
export const EVENTS_CHANNEL = 'parley_events';
/** Chat-list changes, sent by the `parley_chat_changes` trigger (migrations/1764000000002_watch.sql). */
export const CHAT_CHANGES_CHANNEL = 'parley_chat_changes';
/** "Stop the step of this chat's turn now": the fast path of an interrupt (src/worker/interrupts.ts). */
export const INTERRUPT_CHANNEL = 'parley_interrupts';

export const interruptKey = (chatId: string, turn: number): string => `${chatId}:${turn}`;

/** Tells every worker to abort the running step of (chat, turn); delivered on commit. */
export async function notifyInterrupt(db: Queryable, chatId: string, turn: number): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [INTERRUPT_CHANNEL, interruptKey(chatId, turn)]);
}
