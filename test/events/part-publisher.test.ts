import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPartPublisher } from '../../src/events/part-publisher.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import type { ChatEvent, NewChatEvent, StreamPart } from '../../src/shared/types.ts';
import { createEventsFixture, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let log: EventLog;
let newChat: () => Promise<string>;

beforeAll(async () => {
  ({ db, log, newChat } = await createEventsFixture());
});
afterAll(async () => { await db.drop(); });

const partsOf = (events: ChatEvent[]) => events.map((e) => {
  if (e.type !== 'message_part') throw new Error(`unexpected ${e.type}`);
  return e.data.part;
});

test('1,000 tiny text deltas become a few events whose text, in order, is the input', async () => {
  const chatId = await newChat();
  const messageId = randomUUID();
  const publisher = createPartPublisher(log, { chatId, messageId, attempt: 2, coalesceMs: 20 });
  let input = '';
  for (let i = 0; i < 1000; i++) {
    const delta = `${i} `;
    input += delta;
    publisher.part({ type: 'text', text: delta });
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 5));
  }
  await publisher.flush();
  const events = await log.readAfter(chatId, 0);
  expect(events.length).toBeGreaterThan(0);
  expect(events.length).toBeLessThan(20);
  for (const e of events) expect(e.data).toMatchObject({ messageId, attempt: 2 });
  expect(partsOf(events).map((p) => (p as { text: string }).text).join('')).toBe(input);
  expect((await log.inProgressParts(chatId)).length).toBe(events.length);
});

test('merges only like deltas and keeps their order', async () => {
  const chatId = await newChat();
  const publisher = createPartPublisher(log, { chatId, messageId: randomUUID(), attempt: 1, coalesceMs: 1_000 });
  const input: StreamPart[] = [
    { type: 'reasoning', text: 'let me ' },
    { type: 'reasoning', text: 'think' },
    { type: 'reasoning', text: '', signature: 'sig' },
    { type: 'reasoning', text: 'again' },
    { type: 'text', text: 'Hel' },
    { type: 'text', text: 'lo' },
    { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: '{"pa' },
    { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: 'th":1}' },
    { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 1 } },
    { type: 'tool_call', toolCallId: 'c2', name: 'read_file', argsDelta: '{' },
    { type: 'tool_call', toolCallId: 'c3', name: 'read_file', argsDelta: '{' },
    { type: 'text', text: 'bye' },
  ];
  for (const p of input) publisher.part(p);
  // Nothing is written before the coalescing window ends or flush() is called.
  expect(await log.readAfter(chatId, 0)).toEqual([]);
  await publisher.flush();
  expect(partsOf(await log.readAfter(chatId, 0))).toEqual([
    { type: 'reasoning', text: 'let me think', signature: 'sig' },
    { type: 'reasoning', text: 'again' },
    { type: 'text', text: 'Hello' },
    { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: '{"path":1}' },
    { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 1 } },
    { type: 'tool_call', toolCallId: 'c2', name: 'read_file', argsDelta: '{' },
    { type: 'tool_call', toolCallId: 'c3', name: 'read_file', argsDelta: '{' },
    { type: 'text', text: 'bye' },
  ]);
});

test('appends are sequential and at most one per window; flush waits for the one in flight', async () => {
  const calls: Array<{ at: number; events: NewChatEvent[] }> = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const slowLog = {
    async append(_chatId: string, events: NewChatEvent[]) {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      calls.push({ at: Date.now(), events });
      await new Promise((r) => setTimeout(r, 30));
      concurrent--;
      return [];
    },
  } as unknown as EventLog;
  const publisher = createPartPublisher(slowLog, { chatId: 'c', messageId: 'm', attempt: 1, coalesceMs: 10 });
  const until = Date.now() + 200;
  let text = '';
  while (Date.now() < until) {
    publisher.part({ type: 'text', text: 'x' });
    text += 'x';
    await new Promise((r) => setTimeout(r, 1));
  }
  await publisher.flush();
  expect(maxConcurrent).toBe(1);
  expect(calls.length).toBeLessThan(12);
  for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(9);
  const written = calls.flatMap((c) => c.events.map((e) => (e.data as { part: { text: string } }).part.text)).join('');
  expect(written).toBe(text);
  await publisher.flush(); // nothing left: resolves at once
});

test('an append failure surfaces on the next part() and flush()', async () => {
  const failing = { append: async () => { throw new Error('db down'); } } as unknown as EventLog;
  const publisher = createPartPublisher(failing, { chatId: 'c', messageId: 'm', attempt: 1, coalesceMs: 1 });
  publisher.part({ type: 'text', text: 'a' });
  await new Promise((r) => setTimeout(r, 30));
  expect(() => publisher.part({ type: 'text', text: 'b' })).toThrow('db down');
  await expect(publisher.flush()).rejects.toThrow('db down');

  const other = createPartPublisher(failing, { chatId: 'c', messageId: 'm', attempt: 1, coalesceMs: 1_000 });
  other.part({ type: 'text', text: 'a' });
  await expect(other.flush()).rejects.toThrow('db down');
});
