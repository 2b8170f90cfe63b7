// The event log's statements: one per append, and appends made while one is in flight batched
// into the next (the append batcher), with its failure handling and lock order.
import pg from 'pg';
import { expect, test } from 'vitest';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import { createAppendBatcher, type ChatRun } from '../../src/events/append-batcher.ts';
import { decodeNotification } from '../../src/events/notification.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import type { ChatEvent, NewChatEvent } from '../../src/shared/types.ts';
import { db, inlinePayload, listen, log, newChat, title, titles, useEventLog } from '../support/event-log.ts';

useEventLog();

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
