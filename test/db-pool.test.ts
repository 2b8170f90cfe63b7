import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { createPool } from '../src/db/pool.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

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
