import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.ts';

/** A fresh, migrated database for one test file (cloned from the template made in global setup). */
export async function createTestDatabase(): Promise<{ url: string; pool: Pool; drop: () => Promise<void> }> {
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
