import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import type { ChatStatus } from '../../src/shared/types.ts';

export interface TestDatabase { url: string; pool: Pool; drop: () => Promise<void> }

/** A fresh, migrated database for one test file (cloned from the template made in global setup). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = inject('pgBaseUrl');
  const name = `t_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE parley_template`);
  } finally {
    await admin.end();
  }
  const url = `${base}/${name}`;
  const pool = createPool(url);
  return {
    url,
    pool,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: `${base}/postgres` });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

/** A member user, inserted directly: tests below the API need an owner for chats, not a token. Returns its id. */
export async function seedUser(pool: Pool, username = 'alice'): Promise<string> {
  const id = randomUUID();
  await pool.query(`INSERT INTO users (id, username, role) VALUES ($1, $2, 'member')`, [id, username]);
  return id;
}

/** A chat row of `ownerId`, without messages or a workflow. Returns its id. */
export async function seedChat(pool: Pool, ownerId: string, status: ChatStatus = 'pending'): Promise<string> {
  const id = randomUUID();
  await pool.query('INSERT INTO chats (id, owner_id, status) VALUES ($1, $2, $3)', [id, ownerId, status]);
  return id;
}

export interface EventsFixture {
  db: TestDatabase;
  log: EventLog;
  /** The user 'alice', owner of the chats `newChat` makes. */
  userId: string;
  newChat(): Promise<string>;
}

/** For tests of the event log and what is built on it: a fresh database, its event log and one user. */
export async function createEventsFixture(): Promise<EventsFixture> {
  const db = await createTestDatabase();
  const userId = await seedUser(db.pool);
  return { db, log: createPgEventLog(db.pool), userId, newChat: () => seedChat(db.pool, userId) };
}
