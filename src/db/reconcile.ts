// Queries behind the reconciler (src/chats/reconciler.ts): which chats have work that a chat
// workflow should be doing, and one-at-a-time passes across processes.
import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from './pool.ts';
import type { Queryable } from './rows.ts';

export interface ChatNeedingWork {
  id: string;
  ownerId: string;
  /** The model's provider-side name, for the workflow's ParleyModel search attribute. */
  model: string | null;
  /** 'running' chats are only woken when their workflow is not running; the rest always are. */
  status: 'pending' | 'running' | 'waiting' | 'error';
}

export const FIRST_CHAT_ID = '00000000-0000-0000-0000-000000000000';

/**
 * Chats, in id order after `afterId`, that a workflow should be serving: a turn pending or running, a
 * queued message, or a compaction requested. Only chats untouched for `graceMs`, so a request that is
 * waking its chat right now is left to do it.
 */
export async function findChatsNeedingWork(
  db: Queryable, afterId: string, limit: number, graceMs: number,
): Promise<ChatNeedingWork[]> {
  const { rows } = await db.query(
    `WITH candidates AS (
       SELECT id FROM chats WHERE status IN ('pending', 'running') AND id > $1
       UNION SELECT DISTINCT chat_id FROM queued_messages WHERE chat_id > $1
       UNION SELECT id FROM chats WHERE compact_requested AND id > $1
     )
     SELECT c.id, c.owner_id, c.status, m.model
     FROM candidates k JOIN chats c ON c.id = k.id LEFT JOIN models m ON m.id = c.model_id
     WHERE c.updated_at < now() - make_interval(secs => $3::double precision / 1000)
     ORDER BY c.id LIMIT $2`,
    [afterId, limit, graceMs],
  );
  return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, model: r.model ?? null, status: r.status }));
}

// Any constant shared by every process of a deployment; pg_try_advisory_lock keys are bigints.
const RECONCILE_LOCK = 0x7061726c6579; // "parley"

/**
 * Runs `fn` while holding the reconciler's session-level advisory lock, on a connection of its own;
 * returns null without running it when another process holds the lock. A process that dies mid-pass
 * drops its connection, and with it the lock.
 */
export async function withReconcileLock<T>(pool: Pool, fn: () => Promise<T>): Promise<T | null> {
  const client: PoolClient = await pool.connect();
  try {
    const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS got', [RECONCILE_LOCK]);
    if (!rows[0].got) return null;
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RECONCILE_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Deletes Idempotency-Key records older than `maxAgeMs`, at most `limit` of them. */
export async function deleteExpiredIdempotencyKeys(db: Queryable, maxAgeMs: number, limit: number): Promise<number> {
  const res = await db.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys
       WHERE created_at < now() - make_interval(secs => $1::double precision / 1000) LIMIT $2)`,
    [maxAgeMs, limit],
  );
  return res.rowCount ?? 0;
}

/** This database's deployment identity, created on first use (see the parley_deployment table). */
export async function deploymentId(db: Queryable): Promise<string> {
  await db.query('INSERT INTO parley_deployment (id) VALUES ($1) ON CONFLICT DO NOTHING', [randomUUID()]);
  const { rows } = await db.query('SELECT id FROM parley_deployment');
  return rows[0].id as string;
}
