// The event log's append: ids, order, transactions, and what is stored.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, test } from 'vitest';
import { withTransaction } from '../../src/db/pool.ts';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import { db, log, newChat, part, title, titles, useEventLog } from '../support/event-log.ts';

useEventLog();

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

test('a lone UTF-16 surrogate (e.g. a JSON "\\ud83d" from a client) is stored as U+FFFD, not rejected', async () => {
  const chatId = await newChat();
  const stored = await log.append(chatId, [title('half \ud83d of an emoji')]);
  expect(stored.map((e) => e.id)).toEqual([1]);
  expect(titles(await log.readAfter(chatId, 0))).toEqual(['half \uFFFD of an emoji']);
});
