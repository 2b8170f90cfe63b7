import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPgEventHub } from '../../src/events/pg-event-hub.ts';
import type { EventHub, EventLog } from '../../src/events/event-log.ts';
import type { ChatEvent, NewChatEvent } from '../../src/shared/types.ts';
import { createEventsFixture, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let log: EventLog;
let newChat: () => Promise<string>;
const hubs: EventHub[] = [];

beforeAll(async () => {
  ({ db, log, newChat } = await createEventsFixture());
});
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.stop()));
  await db.drop();
});

async function startHub(errors: unknown[] = []): Promise<EventHub> {
  const hub = createPgEventHub(db.url, log, { reconnectMinMs: 300, reconnectMaxMs: 1_000, onError: (err) => errors.push(err) });
  hubs.push(hub);
  await hub.start();
  return hub;
}

function collect(hub: EventHub, chatId: string): { events: ChatEvent[]; stop: () => void } {
  const events: ChatEvent[] = [];
  const stop = hub.subscribe(chatId, (e) => events.push(e));
  return { events, stop };
}

const title = (t: string): NewChatEvent => ({ type: 'title', data: { title: t } });
const ids = (events: ChatEvent[]) => events.map((e) => e.id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function terminateListeners(): Promise<number> {
  const { rowCount } = await db.pool.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = current_database() AND query = 'LISTEN parley_events' AND pid <> pg_backend_pid()`,
  );
  return rowCount ?? 0;
}

test('two hubs (two API replicas) both receive every event, in order, exactly once', async () => {
  const [a, b] = [await startHub(), await startHub()];
  const chatId = await newChat();
  const other = await newChat();
  const seenA = collect(a!, chatId);
  const seenB = collect(b!, chatId);
  const seenOther = collect(a!, other);
  await Promise.all(Array.from({ length: 5 }, async (_, w) => {
    for (let i = 0; i < 20; i++) await log.append(chatId, [title(`${w}:${i}`), title(`${w}:${i}b`)]);
  }));
  await log.append(other, [title('elsewhere')]);
  await expect.poll(() => seenA.events.length).toBe(200);
  await expect.poll(() => seenB.events.length).toBe(200);
  expect(ids(seenA.events)).toEqual(range(1, 200));
  expect(ids(seenB.events)).toEqual(range(1, 200));
  expect(seenA.events).toEqual(await log.readAfter(chatId, 0));
  await expect.poll(() => ids(seenOther.events)).toEqual([1]);
  expect(seenOther.events[0]!.chatId).toBe(other);
  seenA.stop();
  seenB.stop();
  seenOther.stop();
});

test('events too large for a NOTIFY payload are read from the log, in order with the small ones', async () => {
  const hub = await startHub();
  const chatId = await newChat();
  const seen = collect(hub, chatId);
  const big = 'x'.repeat(10_000);
  await log.append(chatId, [title('small 1')]);
  await log.append(chatId, [title(big), title('after big')]);
  await log.append(chatId, [title('small 2')]);
  await expect.poll(() => seen.events.length).toBe(4);
  expect(seen.events.map((e) => (e.data as { title: string }).title)).toEqual(['small 1', big, 'after big', 'small 2']);
  expect(ids(seen.events)).toEqual([1, 2, 3, 4]);
  seen.stop();
});

test('a subscriber that throws does not stop delivery to the others; unsubscribed ones get nothing more', async () => {
  const errors: unknown[] = [];
  const hub = await startHub(errors);
  const chatId = await newChat();
  const stopBad = hub.subscribe(chatId, () => { throw new Error('bad subscriber'); });
  const good = collect(hub, chatId);
  const leaving = collect(hub, chatId);
  await log.append(chatId, [title('1')]);
  await expect.poll(() => ids(good.events)).toEqual([1]);
  leaving.stop();
  await log.append(chatId, [title('2')]);
  await expect.poll(() => ids(good.events)).toEqual([1, 2]);
  expect(ids(leaving.events)).toEqual([1]);
  expect(errors.some((e) => (e as Error).message === 'bad subscriber')).toBe(true);
  stopBad();
  good.stop();
});

test('after its connection is terminated the hub reconnects and delivers what was appended meanwhile, in order', async () => {
  const errors: unknown[] = [];
  const hub = await startHub(errors);
  const active = await newChat();
  const idle = await newChat();
  const seen = collect(hub, active);
  // Subscribed before the chat ever had an event: the hub must still catch up after the reconnect.
  const seenIdle = collect(hub, idle);
  await log.append(active, [title('before')]);
  await expect.poll(() => ids(seen.events)).toEqual([1]);
  await new Promise((r) => setTimeout(r, 100));

  expect(await terminateListeners()).toBeGreaterThanOrEqual(1);
  // Appended while the hub is disconnected (its first reconnect waits >= 150 ms).
  for (let i = 0; i < 10; i++) await log.append(active, [title(`during ${i}`)]);
  await log.append(idle, [title('idle during')]);

  await expect.poll(() => seen.events.length, { timeout: 10_000 }).toBe(11);
  for (let i = 0; i < 5; i++) await log.append(active, [title(`after ${i}`)]);
  await expect.poll(() => seen.events.length, { timeout: 10_000 }).toBe(16);
  expect(ids(seen.events)).toEqual(range(1, 16));
  await expect.poll(() => ids(seenIdle.events)).toEqual([1]);
  expect(errors.length).toBeGreaterThanOrEqual(1);
  seen.stop();
  seenIdle.stop();
});

test('a new subscriber starts where the hub is: later events only, no replay of delivered ones', async () => {
  const hub = await startHub();
  const chatId = await newChat();
  const first = collect(hub, chatId);
  await log.append(chatId, [title('1'), title('2')]);
  await expect.poll(() => first.events.length).toBe(2);
  const second = collect(hub, chatId);
  await log.append(chatId, [title('3')]);
  await expect.poll(() => ids(second.events)).toEqual([3]);
  expect(ids(first.events)).toEqual([1, 2, 3]);
  first.stop();
  second.stop();
});
