import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });
afterEach(() => { vi.useRealTimers(); });

/** Opens `n` connections at once, then lets `ms` of idle time pass (fake timers: pg-pool's idle timer). */
async function idleAfter(pool: pg.Pool, n: number, ms: number): Promise<number> {
  // Faked before the connections go idle, so the pool's idle timers are fake ones (sockets stay real).
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  await Promise.all(Array.from({ length: n }, () => pool.query('SELECT pg_sleep(0.05)')));
  expect(pool.totalCount).toBe(n);
  vi.advanceTimersByTime(ms);
  return pool.totalCount;
}

test('a quiet pause does not close every connection: the next turn starts on warm ones', async () => {
  const pool = createPool(db.url);
  const plain = new pg.Pool({ connectionString: db.url, max: 10 });
  try {
    // pg's default closes them all after 10 s idle; a chat's next message often comes later than that.
    expect(await idleAfter(plain, 6, 15_000)).toBe(0);
    vi.useRealTimers();
    // Parley's pools keep four for a pause like that, and close the rest after a minute.
    expect(await idleAfter(pool, 6, 15_000)).toBe(6);
    vi.advanceTimersByTime(60_000);
    expect(pool.totalCount).toBe(4);
    vi.useRealTimers();
  } finally {
    await Promise.all([pool.end(), plain.end()]);
  }
});

test('a checked-out client whose connection dies fails its next query instead of crashing the process', async () => {
  const pool = createPool(db.url);
  try {
    const client = await pool.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    // Held between queries (as the reconciler holds its lock connection while it calls Temporal).
    await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await new Promise((r) => setTimeout(r, 200)); // the 57P01 error event arrives meanwhile
    await expect(client.query('SELECT 1')).rejects.toThrow();
    client.release();
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1); // the dead client was dropped
  } finally {
    await pool.end();
  }
});

test('the interrupt listener reconnects after its connection is lost, also when the first tries fail', async () => {
  const { InterruptRegistry } = await import('../../src/worker/interrupts.ts');
  const { INTERRUPT_CHANNEL, notifyInterrupt } = await import('../../src/events/channels.ts');
  const registry = new InterruptRegistry(db.url);
  await registry.start();
  const dbName = new URL(db.url).pathname.slice(1);
  const listener = async () => (await db.pool.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query = $2`, [dbName, `LISTEN ${INTERRUPT_CHANNEL}`])).rows.map((r) => r.pid as number);
  try {
    expect(await listener()).toHaveLength(1);
    // New connections are refused for a while (a database restarting), then the listener is cut.
    const admin = new pg.Client({ connectionString: db.url.replace(`/${dbName}`, '/postgres') });
    await admin.connect();
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
    await db.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid', [await listener()]);
    await new Promise((r) => setTimeout(r, 1_500)); // about three failed reconnects
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
    await admin.end();
    for (let i = 0; i < 40 && (await listener()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await listener()).toHaveLength(1);
    // And it works: a NOTIFY aborts the registered step.
    const step = registry.register('chat-1', 3);
    await notifyInterrupt(db.pool, 'chat-1', 3);
    for (let i = 0; i < 40 && !step.signal.aborted; i++) await new Promise((r) => setTimeout(r, 50));
    expect(step.signal.aborted).toBe(true);
    step.release();
  } finally {
    await registry.stop();
  }
});
