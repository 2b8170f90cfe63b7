import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { createTestDatabase } from '../support/db.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

test('test database is migrated', async () => {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('chats','messages','chat_events')`);
  expect(rows[0].n).toBe(3);
});

test('Temporal dev server has Parley search attributes', async () => {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  expect(Object.keys(res.customAttributes ?? {})).toEqual(expect.arrayContaining(['ParleyChatId', 'ParleyUserId', 'ParleyModel']));
  await connection.close();
});

test('concurrent starts migrate one after the other instead of failing', async () => {
  const { migrate } = await import('../../src/db/migrate.ts');
  const fresh = await createTestDatabase();
  await fresh.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await expect(Promise.all([migrate(fresh.url), migrate(fresh.url), migrate(fresh.url)])).resolves.toBeDefined();
  const { rows } = await fresh.pool.query('SELECT count(*)::int AS n FROM parley_migrations');
  expect(rows[0].n).toBeGreaterThanOrEqual(3);
  await fresh.drop();
});
