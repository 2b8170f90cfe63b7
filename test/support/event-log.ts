// What the event log's tests (test/events/log-*.test.ts) share: a database with its event log,
// event builders, and a listener on the events channel.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { EVENTS_CHANNEL } from '../../src/events/channels.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import type { ChatEvent, NewChatEvent } from '../../src/shared/types.ts';
import { createEventsFixture, type TestDatabase } from './db.ts';

// Set by the hooks of useEventLog(); importers see the current values.
export let db: TestDatabase;
export let log: EventLog;
export let newChat: () => Promise<string>;

/** Registers the hooks: a fresh database and its event log for the file, dropped afterwards. */
export function useEventLog(): void {
  beforeAll(async () => {
    ({ db, log, newChat } = await createEventsFixture());
  });
  afterAll(async () => { await db.drop(); });
}

export const title = (t: string): NewChatEvent => ({ type: 'title', data: { title: t } });
export const part = (messageId: string, text: string): NewChatEvent =>
  ({ type: 'message_part', data: { messageId, attempt: 1, part: { type: 'text', text } } });

export const titles = (events: ChatEvent[]) => events.map((e) => (e.data as { title: string }).title);

/**
 * Raw payloads on the events channel. `sync()` sends a marker through the channel from another
 * connection and waits for it: notifications arrive in commit order, so anything committed before
 * the marker has arrived by then, and anything missing was not committed.
 */
export async function listen() {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const payloads: string[] = [];
  listener.on('notification', (msg) => payloads.push(msg.payload!));
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  return {
    payloads,
    /** Payloads other than markers. */
    events: () => payloads.filter((p) => !p.startsWith('marker')),
    async sync() {
      const marker = `marker ${randomUUID()}`;
      await db.pool.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, marker]);
      await expect.poll(() => payloads.includes(marker)).toBe(true);
    },
    end: () => listener.end(),
  };
}

// The wire format as the decoder's side documents it, serialised independently of the SQL that builds it.
export const inlinePayload = (chatId: string, events: Array<{ id: number } & NewChatEvent>) =>
  JSON.stringify({ c: chatId, e: events.map(({ id, type, data }) => ({ id, type, data })) });
