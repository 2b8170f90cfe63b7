import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withTransaction } from '../src/db/pool.ts';
import { decodeNotification, EVENTS_CHANNEL, MAX_INLINE_PAYLOAD_BYTES } from '../src/events/notification.ts';
import { createPgEventLog } from '../src/events/pg-event-log.ts';
import type { EventLog } from '../src/events/types.ts';
import type { NewChatEvent } from '../src/shared/types.ts';
import { createEventsFixture, type TestDatabase } from './support/db.ts';

let db: TestDatabase;
let log: EventLog;
let newChat: () => Promise<string>;

beforeAll(async () => {
  ({ db, log, newChat } = await createEventsFixture());
});
afterAll(async () => { await db.drop(); });

const title = (t: string): NewChatEvent => ({ type: 'title', data: { title: t } });
const part = (messageId: string, text: string): NewChatEvent =>
  ({ type: 'message_part', data: { messageId, attempt: 1, part: { type: 'text', text } } });

test('append assigns consecutive ids and readAfter returns them in order', async () => {
  const chatId = await newChat();
  const first = await log.append(chatId, [title('a'), title('b')]);
  expect(first.map((e) => e.id)).toEqual([1, 2]);
  expect(first[0]).toEqual({ id: 1, chatId, type: 'title', data: { title: 'a' } });
  await log.append(chatId, [title('c')]);
  expect((await log.readAfter(chatId, 0)).map((e) => e.id)).toEqual([1, 2, 3]);
  expect((await log.readAfter(chatId, 1, 1)).map((e) => (e.data as { title: string }).title)).toEqual(['b']);
  expect(await log.lastEventId(chatId)).toBe(3);
  expect(await log.append(chatId, [])).toEqual([]);
});

test('10 connections appending concurrently get exactly ids 1..200, per-appender order kept', async () => {
  const chatId = await newChat();
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  try {
    const concurrentLog = createPgEventLog(pool);
    await Promise.all(Array.from({ length: 10 }, async (_, w) => {
      for (let i = 0; i < 20; i++) await concurrentLog.append(chatId, [title(`${w}:${i}`)]);
    }));
  } finally {
    await pool.end();
  }
  const events = await log.readAfter(chatId, 0);
  expect(events.map((e) => e.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  for (let w = 0; w < 10; w++) {
    const mine = events.map((e) => (e.data as { title: string }).title).filter((t) => t.startsWith(`${w}:`));
    expect(mine).toEqual(Array.from({ length: 20 }, (_, i) => `${w}:${i}`));
  }
  expect(await log.lastEventId(chatId)).toBe(200);
});

test('an append in a rolled-back transaction leaves no event and no id gap', async () => {
  const chatId = await newChat();
  await log.append(chatId, [title('kept')]);
  await expect(withTransaction(db.pool, async (tx) => {
    const stored = await log.append(chatId, [title('lost'), title('lost too')], tx);
    expect(stored.map((e) => e.id)).toEqual([2, 3]);
    throw new Error('roll back');
  })).rejects.toThrow('roll back');
  expect((await log.readAfter(chatId, 0)).map((e) => e.id)).toEqual([1]);
  await log.append(chatId, [title('next')]);
  expect((await log.readAfter(chatId, 0)).map((e) => [e.id, (e.data as { title: string }).title]))
    .toEqual([[1, 'kept'], [2, 'next']]);
});

test('an append inside a transaction is visible only on commit', async () => {
  const chatId = await newChat();
  await withTransaction(db.pool, async (tx) => {
    await log.append(chatId, [title('x')], tx);
    expect(await log.readAfter(chatId, 0)).toEqual([]);
  });
  expect((await log.readAfter(chatId, 0)).map((e) => e.id)).toEqual([1]);
});

test('appending to a deleted chat is a no-op', async () => {
  const chatId = await newChat();
  await db.pool.query('DELETE FROM chats WHERE id = $1', [chatId]);
  expect(await log.append(chatId, [title('late')])).toEqual([]);
  expect(await log.lastEventId(chatId)).toBe(0);
});

test('inProgressParts lists stored deltas; pruneParts drops one message\'s deltas only', async () => {
  const chatId = await newChat();
  const m1 = randomUUID();
  const m2 = randomUUID();
  await log.append(chatId, [part(m1, 'he'), part(m1, 'llo'), { type: 'status', data: { status: 'running' } }, part(m2, 'wor')]);
  expect((await log.inProgressParts(chatId)).map((e) => e.id)).toEqual([1, 2, 4]);
  const { rows } = await db.pool.query('SELECT id, message_id FROM chat_events WHERE chat_id = $1 ORDER BY id', [chatId]);
  expect(rows).toEqual([{ id: 1, message_id: m1 }, { id: 2, message_id: m1 }, { id: 3, message_id: null }, { id: 4, message_id: m2 }]);

  await withTransaction(db.pool, async (tx) => {
    await log.pruneParts(chatId, m1, tx);
    await log.append(chatId, [{ type: 'title', data: { title: 'm1 stored' } }], tx);
  });
  expect((await log.inProgressParts(chatId)).map((e) => e.id)).toEqual([4]);
  expect((await log.readAfter(chatId, 0)).map((e) => e.id)).toEqual([3, 4, 5]);
  await log.pruneParts(chatId, m2);
  expect(await log.inProgressParts(chatId)).toEqual([]);
  expect(await log.lastEventId(chatId)).toBe(5);
});

test('append notifies listeners on commit: inline payload for small batches, an id range for large ones', async () => {
  const chatId = await newChat();
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const payloads: unknown[] = [];
  listener.on('notification', (msg) => payloads.push(JSON.parse(msg.payload!)));
  await listener.query('LISTEN parley_events');
  try {
    await log.append(chatId, [title('small')]);
    await log.append(chatId, [title('x'.repeat(5000)), title('y'.repeat(5000))]);
    await expect.poll(() => payloads.length).toBe(2);
    expect(payloads[0]).toEqual({ c: chatId, e: [{ id: 1, type: 'title', data: { title: 'small' } }] });
    expect(payloads[1]).toEqual({ c: chatId, from: 2, to: 3 });
  } finally {
    await listener.end();
  }
});

/**
 * Raw payloads on the events channel. `sync()` sends a marker through the channel from another
 * connection and waits for it: notifications arrive in commit order, so anything committed before
 * the marker has arrived by then, and anything missing was not committed.
 */
async function listen() {
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
const inlinePayload = (chatId: string, events: Array<{ id: number } & NewChatEvent>) =>
  JSON.stringify({ c: chatId, e: events.map(({ id, type, data }) => ({ id, type, data })) });

test('the inline payload is cut at 7,500 UTF-8 bytes, not characters', async () => {
  const chatId = await newChat();
  const l = await listen();
  try {
    // Titles of 3-byte characters (and one 4-byte one at the end) sized so the payload is exactly
    // 7,500 bytes, then 7,501: each far below 7,500 characters.
    const sized = (id: number, bytes: number) => {
      const overhead = Buffer.byteLength(inlinePayload(chatId, [{ id, ...title('😀') }]));
      const rest = bytes - overhead;
      const t = '€'.repeat(Math.floor(rest / 3)) + 'a'.repeat(rest % 3) + '😀';
      expect(Buffer.byteLength(inlinePayload(chatId, [{ id, ...title(t) }]))).toBe(bytes);
      expect(t.length).toBeLessThan(3_000);
      return title(t);
    };
    const fits = sized(1, MAX_INLINE_PAYLOAD_BYTES);
    const over = sized(2, MAX_INLINE_PAYLOAD_BYTES + 1);
    const nearlyFits = sized(3, MAX_INLINE_PAYLOAD_BYTES - 1);
    await log.append(chatId, [fits]);
    await log.append(chatId, [over]);
    await log.append(chatId, [nearlyFits]);
    await l.sync();
    expect(l.events()).toEqual([
      inlinePayload(chatId, [{ id: 1, ...fits }]),
      JSON.stringify({ c: chatId, from: 2, to: 2 }),
      inlinePayload(chatId, [{ id: 3, ...nearlyFits }]),
    ]);
    expect(l.events().map(decodeNotification)).toEqual([
      { c: chatId, e: [{ id: 1, ...fits }] },
      { c: chatId, from: 2, to: 2 },
      { c: chatId, e: [{ id: 3, ...nearlyFits }] },
    ]);
    expect((await log.readAfter(chatId, 0)).map((e) => e.data)).toEqual([fits.data, over.data, nearlyFits.data]);
  } finally {
    await l.end();
  }
});

test('payload and stored data keep unicode and escapes; NUL becomes U+FFFD; the returned events are the input', async () => {
  const chatId = await newChat();
  const m = randomUUID();
  const tricky = 'é € 😀 "quoted" back\\slash\nline \u2028 tab\t <tag> \0 end';
  const events: NewChatEvent[] = [
    part(m, tricky),
    { type: 'title', data: { title: '\0\0' } },
    part(m, ''),
  ];
  const l = await listen();
  try {
    const stored = await log.append(chatId, events);
    expect(stored).toEqual(events.map((e, i) => ({ ...e, id: i + 1, chatId })));
    await l.sync();
    const asStored = events.map((e, i) => ({ id: i + 1, ...JSON.parse(JSON.stringify(e).replaceAll('\\u0000', '\uFFFD')) }));
    expect((asStored[0].data as { part: { text: string } }).part.text).toContain('\uFFFD end');
    expect(l.events()).toEqual([inlinePayload(chatId, asStored)]);
    expect(decodeNotification(l.events()[0]!)).toEqual({ c: chatId, e: asStored });
    expect((await log.readAfter(chatId, 0)).map(({ id, type, data }) => ({ id, type, data }))).toEqual(asStored);
  } finally {
    await l.end();
  }
});

test('a batch whose inline form is too large announces its id range', async () => {
  const chatId = await newChat();
  await log.append(chatId, [title('first')]);
  const l = await listen();
  try {
    const big = Array.from({ length: 30 }, (_, i) => title(`${i} ${'ü'.repeat(150)}`));
    expect(Buffer.byteLength(JSON.stringify(big))).toBeLessThan(MAX_INLINE_PAYLOAD_BYTES * 2);
    const stored = await log.append(chatId, big);
    expect(stored.map((e) => e.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    await l.sync();
    expect(l.events()).toEqual([JSON.stringify({ c: chatId, from: 2, to: 31 })]);
  } finally {
    await l.end();
  }
});

test('an append inside a transaction notifies on commit only; without one, as soon as it returns', async () => {
  const chatId = await newChat();
  const l = await listen();
  try {
    await withTransaction(db.pool, async (tx) => {
      await log.append(chatId, [title('in tx')], tx);
      await l.sync();
      expect(l.events()).toEqual([]);
    });
    await l.sync();
    expect(l.events()).toEqual([inlinePayload(chatId, [{ id: 1, ...title('in tx') }])]);

    await expect(withTransaction(db.pool, async (tx) => {
      await log.append(chatId, [title('rolled back')], tx);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');

    await log.append(chatId, [title('autocommit')]);
    // Sent after the append returned, so the append's notification must come first.
    await l.sync();
    expect(l.events()).toEqual([
      inlinePayload(chatId, [{ id: 1, ...title('in tx') }]),
      inlinePayload(chatId, [{ id: 2, ...title('autocommit') }]),
    ]);
  } finally {
    await l.end();
  }
});

test('an append inside a transaction holds the chat until commit; a concurrent append gets the next id after it', async () => {
  const chatId = await newChat();
  let other: Promise<number[]> | undefined;
  let otherDone = false;
  await withTransaction(db.pool, async (tx) => {
    expect((await log.append(chatId, [title('tx')], tx)).map((e) => e.id)).toEqual([1]);
    other = log.append(chatId, [title('other')]).then((s) => { otherDone = true; return s.map((e) => e.id); });
    await new Promise((r) => setTimeout(r, 200));
    expect(otherDone).toBe(false);
  });
  expect(await other).toEqual([2]);
  expect((await log.readAfter(chatId, 0)).map((e) => (e.data as { title: string }).title)).toEqual(['tx', 'other']);
});

test('appending to a deleted chat writes and announces nothing', async () => {
  const chatId = await newChat();
  await log.append(chatId, [title('before')]);
  await db.pool.query('DELETE FROM chats WHERE id = $1', [chatId]);
  const l = await listen();
  try {
    expect(await log.append(chatId, [title('late'), title('later')])).toEqual([]);
    expect(await withTransaction(db.pool, (tx) => log.append(chatId, [title('late in tx')], tx))).toEqual([]);
    await l.sync();
    expect(l.events()).toEqual([]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM chat_events WHERE chat_id = $1', [chatId]);
    expect(rows[0].n).toBe(0);
  } finally {
    await l.end();
  }
});

test('an append outside a transaction is one statement on one connection, prepared once per connection', async () => {
  const chatId = await newChat();
  const statements: string[] = [];
  class CountingClient extends pg.Client {
    override query(...args: any[]): any {
      const q = args[0];
      statements.push(typeof q === 'string' ? q : q.text);
      return (super.query as (...a: any[]) => any)(...args);
    }
  }
  const pool = new pg.Pool({ connectionString: db.url, max: 1, Client: CountingClient });
  try {
    const counted = createPgEventLog(pool);
    await counted.append(chatId, [title('a'), title('b')]);
    expect(statements).toHaveLength(1);
    expect(statements[0]).not.toMatch(/^\s*BEGIN/i);
    await counted.append(chatId, [title('c')]);
    expect(statements).toHaveLength(2);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO chat_events%'`);
    expect(rows[0].n).toBe(1);
  } finally {
    await pool.end();
  }
  expect((await log.readAfter(chatId, 0)).map((e) => e.id)).toEqual([1, 2, 3]);
});
