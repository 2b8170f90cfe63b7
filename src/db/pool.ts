import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// int8 (bigint) columns hold event ids and costs that stay far below 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * A few connections stay open through quiet periods: pg closes idle ones after 10 s by default, and a
 * chat's next message usually comes later than that, so its turn would first pay for new connections
 * (and re-prepared statements) before the provider call, a delay the user sees before the first
 * token (docs/BENCHMARKS.md has the measurement).
 */
export const POOL_WARM = { min: 4, idleTimeoutMillis: 60_000 } as const;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, ...POOL_WARM });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Nor may a checked-out one: pg-pool listens for errors only on idle clients, and a client held
  // between queries (the reconciler's lock connection while it calls Temporal, say) would otherwise
  // throw an unhandled 'error' event when PostgreSQL goes away. Its next query fails instead, and the
  // pool drops it on release (it is no longer queryable).
  pool.on('connect', (client) => { client.on('error', () => {}); });
  return pool;
}

/** Runs `fn` in a transaction, rolling back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Resolves when PostgreSQL answers a query (readiness probes). */
export async function ping(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1');
}
