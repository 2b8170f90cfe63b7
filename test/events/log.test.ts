import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withTransaction } from '../../src/db/pool.ts';
import { EVENTS_CHANNEL } from '../../src/events/channels.ts';
import { decodeNotification, MAX_INLINE_PAYLOAD_BYTES } from '../../src/events/notification.ts';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import { createAppendBatcher, type ChatRun } from '../../src/events/append-batcher.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import type { ChatEvent, NewChatEvent } from '../../src/shared/types.ts';
import { createEventsFixture, type TestDatabase } from '../support/db.ts';

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
  const { statements, pool } = countingPool(1);
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

/** A pool whose clients record the text of every statement they send. */
function countingPool(max: number) {
  const statements: string[] = [];
  class CountingClient extends pg.Client {
    override query(...args: any[]): any {
      const q = args[0];
      statements.push(typeof q === 'string' ? q : q.text);
      return (super.query as (...a: any[]) => any)(...args);
    }
  }
  return { statements, pool: new pg.Pool({ connectionString: db.url, max, Client: CountingClient }) };
}

/** A log on its own counting pool, and a listener on the events channel; both closed afterwards. */
async function withBatchedLog(fn: (t: { l: Awaited<ReturnType<typeof listen>>; statements: string[]; batched: EventLog }) => Promise<void>) {
  const l = await listen();
  const { statements, pool } = countingPool(10);
  try {
    await fn({ l, statements, batched: createPgEventLog(pool) });
  } finally {
    await l.end();
    await pool.end();
  }
}

const titles = (events: ChatEvent[]) => events.map((e) => (e.data as { title: string }).title);

test('appends for many chats made while a statement is in flight share the next statement', async () => {
  // Chat i already has i events, so each caller's ids tell whether it got its own chat's range.
  const chats = await Promise.all(Array.from({ length: 20 }, () => newChat()));
  for (const [i, chatId] of chats.entries()) if (i > 0) await log.append(chatId, Array.from({ length: i }, () => title('old')));
  const { statements, pool } = countingPool(10);
  try {
    const batched = createPgEventLog(pool);
    // The first call is sent at once; the other 19 queue behind it and go out together.
    const results = await Promise.all(chats.map((chatId, i) => batched.append(chatId, [title(`${i}a`), title(`${i}b`)])));
    expect(statements).toHaveLength(2);
    expect(statements[1]).toMatch(/json_array_elements\(\$1::text::json\)/);
    for (const [i, chatId] of chats.entries()) {
      expect(results[i]).toEqual([
        { id: i + 1, chatId, type: 'title', data: { title: `${i}a` } },
        { id: i + 2, chatId, type: 'title', data: { title: `${i}b` } },
      ]);
      const stored = await log.readAfter(chatId, 0);
      expect(stored.map((e) => e.id)).toEqual(Array.from({ length: i + 2 }, (_, k) => k + 1));
      expect(titles(stored.slice(i))).toEqual([`${i}a`, `${i}b`]);
      expect(await log.lastEventId(chatId)).toBe(i + 2);
    }
  } finally {
    await pool.end();
  }
});

test('concurrent appends to one chat keep call order, gapless, with one notification per chat and statement', async () => {
  const chatId = await newChat();
  const other = await newChat();
  await withBatchedLog(async ({ l, statements, batched }) => {
    const sizes = [1, 3, 2, 1, 2];
    const calls = sizes.map((n, k) => batched.append(chatId, Array.from({ length: n }, (_, j) => title(`${k}.${j}`))));
    const otherCall = batched.append(other, [title('other')]);
    const results = await Promise.all(calls);
    expect(statements).toHaveLength(2);
    let next = 1;
    for (const [k, stored] of results.entries()) {
      expect(stored.map((e) => e.id)).toEqual(Array.from({ length: sizes[k]! }, () => next++));
      expect(titles(stored)).toEqual(Array.from({ length: sizes[k]! }, (_, j) => `${k}.${j}`));
      expect(stored.every((e) => e.chatId === chatId)).toBe(true);
    }
    expect((await otherCall).map((e) => e.id)).toEqual([1]);
    const all = await log.readAfter(chatId, 0);
    expect(all.map((e) => e.id)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
    expect(titles(all)).toEqual(results.flat().map((e) => (e.data as { title: string }).title));

    await l.sync();
    // The first call alone, then calls 1..4 and the other chat's in one statement: one payload per chat.
    const inline = (id: number, events: ChatEvent[]) => inlinePayload(id === 0 ? chatId : other, events.map(({ id, type, data }) => ({ id, type, data }) as { id: number } & NewChatEvent));
    expect(l.events()[0]).toBe(inline(0, results[0]!));
    expect(l.events().slice(1).sort()).toEqual([inline(0, results.slice(1).flat()), inline(1, await otherCall)].sort());
  });
});

test('a batch notifies each chat with exactly its own payload: inline or id range', async () => {
  const [a, b, c] = [await newChat(), await newChat(), await newChat()];
  await log.append(b, [title('b1')]);
  await withBatchedLog(async ({ l, statements, batched }) => {
    const warm = batched.append(a, [title('first')]);
    const tricky = title('é € 😀 "q" \\ \n \u2028 \0');
    const [ra, rb, rc] = await Promise.all([
      batched.append(a, [title('a2'), tricky]),
      batched.append(b, [title('x'.repeat(5000)), title('y'.repeat(5000))]),
      batched.append(c, [tricky]),
    ]);
    await warm;
    expect(statements).toHaveLength(2);
    expect([ra, rb, rc].map((r) => r.map((e) => e.id))).toEqual([[2, 3], [2, 3], [1]]);
    await l.sync();
    const asStored = JSON.parse(JSON.stringify(tricky).replaceAll('\\u0000', '\uFFFD')) as NewChatEvent;
    const expected = [
      inlinePayload(a, [{ id: 2, ...title('a2') }, { id: 3, ...asStored }]),
      JSON.stringify({ c: b, from: 2, to: 3 }),
      inlinePayload(c, [{ id: 1, ...asStored }]),
    ];
    expect(l.events()[0]).toBe(inlinePayload(a, [{ id: 1, ...title('first') }]));
    expect(l.events().slice(1).sort()).toEqual([...expected].sort());
    expect(l.events().slice(1).map(decodeNotification).every((n) => n !== null)).toBe(true);
    expect((await log.readAfter(c, 0)).map((e) => e.data)).toEqual([asStored.data]);
  });
});

test('one bad call in a batch fails alone: the others are written and notified', async () => {
  const [a, bad, c] = [await newChat(), await newChat(), await newChat()];
  await withBatchedLog(async ({ l, statements, batched }) => {
    const first = batched.append(a, [title('a1')]);
    // A delta whose message id is not a uuid: PostgreSQL rejects the cast, and with it the statement.
    const broken: NewChatEvent = { type: 'message_part', data: { messageId: 'not-a-uuid', attempt: 1, part: { type: 'text', text: 'x' } } };
    const results = await Promise.allSettled([
      batched.append(bad, [title('fine'), broken]),
      batched.append(c, [title('c1')]),
      batched.append(a, [title('a2')]),
    ]);
    expect((await first).map((e) => e.id)).toEqual([1]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.any(pg.DatabaseError) });
    expect(results[1]).toEqual({ status: 'fulfilled', value: [{ id: 1, chatId: c, ...title('c1') }] });
    expect(results[2]).toEqual({ status: 'fulfilled', value: [{ id: 2, chatId: a, ...title('a2') }] });
    // The lone call, the failed batch, then each of its calls on its own.
    expect(statements).toHaveLength(5);
    expect(await log.readAfter(bad, 0)).toEqual([]);
    expect(await log.lastEventId(bad)).toBe(0);
    expect(titles(await log.readAfter(a, 0))).toEqual(['a1', 'a2']);
    await l.sync();
    expect(l.events().sort()).toEqual([
      inlinePayload(a, [{ id: 1, ...title('a1') }]),
      inlinePayload(a, [{ id: 2, ...title('a2') }]),
      inlinePayload(c, [{ id: 1, ...title('c1') }]),
    ].sort());
  });
});

test('a lone UTF-16 surrogate (e.g. a JSON "\\ud83d" from a client) is stored as U+FFFD, not rejected', async () => {
  const chatId = await newChat();
  const stored = await log.append(chatId, [title('half \ud83d of an emoji')]);
  expect(stored.map((e) => e.id)).toEqual([1]);
  expect(titles(await log.readAfter(chatId, 0))).toEqual(['half \uFFFD of an emoji']);
});

test('a deleted chat in a batch gets [] and nothing written; the others are unaffected', async () => {
  const [a, gone, c] = [await newChat(), await newChat(), await newChat()];
  await log.append(gone, [title('before')]);
  await db.pool.query('DELETE FROM chats WHERE id = $1', [gone]);
  await withBatchedLog(async ({ l, statements, batched }) => {
    const first = batched.append(a, [title('a1')]);
    const [rGone, rc, ra] = await Promise.all([
      batched.append(gone, [title('late')]),
      batched.append(c, [title('c1')]),
      batched.append(a, [title('a2')]),
    ]);
    await first;
    expect(statements).toHaveLength(2);
    expect(rGone).toEqual([]);
    expect(rc.map((e) => e.id)).toEqual([1]);
    expect(ra.map((e) => e.id)).toEqual([2]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM chat_events WHERE chat_id = $1', [gone]);
    expect(rows[0].n).toBe(0);
    await l.sync();
    expect(l.events().some((p) => p.includes(gone))).toBe(false);
    expect(l.events()).toHaveLength(3);
  });
});

test('batcher: batches are capped, retries each call alone after a PostgreSQL error, never after a lost connection', async () => {
  const writes: ChatRun[][] = [];
  let fail: ((runs: ChatRun[]) => unknown) | null = null;
  let next = 1;
  const batcher = createAppendBatcher(async (runs) => {
    writes.push(runs);
    await new Promise((r) => setTimeout(r, 1));
    const err = fail?.(runs);
    if (err) throw err;
    return runs.map((r) => { const first = next; next += r.count; return first; });
  }, { maxEvents: 5 });
  const three = () => [title('1'), title('2'), title('3')];

  await Promise.all([batcher.append('a', three()), batcher.append('b', three()), batcher.append('c', three()), batcher.append('d', three())]);
  expect(writes.map((runs) => runs.map((r) => r.chatId))).toEqual([['a'], ['b'], ['c'], ['d']]);

  // Let the batcher go idle, so the next first call is written alone.
  const idle = () => new Promise((r) => setTimeout(r, 5));
  await idle();
  writes.length = 0;
  const deadlock = Object.assign(new pg.DatabaseError('deadlock detected', 0, 'error'), { code: '40P01' });
  fail = (runs) => (runs.length > 1 ? deadlock : null);
  const [, x, y] = await Promise.all([batcher.append('a', [title('0')]), batcher.append('x', [title('x')]), batcher.append('y', [title('y')])]);
  expect(writes.map((runs) => runs.map((r) => r.chatId))).toEqual([['a'], ['x', 'y'], ['x'], ['y']]);
  expect([x[0]!.chatId, y[0]!.chatId]).toEqual(['x', 'y']);

  await idle();
  writes.length = 0;
  fail = (runs) => (runs.length > 1 ? new Error('Connection terminated unexpectedly') : null);
  const settled = await Promise.allSettled([batcher.append('a', [title('0')]), batcher.append('x', [title('x')]), batcher.append('y', [title('y')])]);
  expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
  expect(writes).toHaveLength(2);
});

test('a batch locks its chats in id order, whatever the order of the calls', async () => {
  const [lo, hi] = [await newChat(), await newChat()].sort();
  const starter = await newChat();
  const holder = await db.pool.connect();
  const pool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'batch-lock-order' });
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [hi]);
    const batched = createPgEventLog(pool);
    await batched.append(starter, [title('s')]);
    const first = batched.append(starter, [title('s2')]);
    // Queued behind `first`: one statement for hi then lo, in that call order.
    const both = Promise.all([batched.append(hi!, [title('hi')]), batched.append(lo!, [title('lo')])]);
    await first;
    await expect.poll(async () => (await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'batch-lock-order' AND wait_event_type = 'Lock'`,
    )).rows[0].n).toBe(1);
    // Waiting for hi, the batch already holds lo: someone locking lo then hi would wait, not deadlock.
    await expect(db.pool.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE NOWAIT', [lo])).rejects.toMatchObject({ code: '55P03' });
    await holder.query('COMMIT');
    expect((await both).map((r) => r.map((e) => e.id))).toEqual([[1], [1]]);
  } finally {
    await holder.query('ROLLBACK').catch(() => {});
    holder.release();
    await pool.end();
  }
});
