// The event log's notifications on the events channel: inline payloads, id ranges, and when they are sent.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect, test } from 'vitest';
import { withTransaction } from '../../src/db/pool.ts';
import { decodeNotification, MAX_INLINE_PAYLOAD_BYTES } from '../../src/events/notification.ts';
import type { NewChatEvent } from '../../src/shared/types.ts';
import { db, inlinePayload, listen, log, newChat, part, title, useEventLog } from '../support/event-log.ts';

useEventLog();

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
