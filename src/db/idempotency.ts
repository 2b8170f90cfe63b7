// Idempotency-Key records (see migrations/…_reliability.sql). Used inside the transaction that does
// the request's work, so the record and what it created commit together or not at all.
import type { PoolClient } from './pool.ts';

export interface IdempotencyClaim {
  ownerId: string;
  key: string;
  fingerprint: string;
}

export interface StoredResponse {
  fingerprint: string;
  status: number;
  response: unknown;
  chatId: string | null;
}

/**
 * Serialises requests with the same key (a second one waits here until the first commits or rolls
 * back), then returns the record a committed earlier request left, or null when this is the first.
 */
export async function lockIdempotencyKey(tx: PoolClient, claim: IdempotencyClaim): Promise<StoredResponse | null> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`idem:${claim.ownerId}:${claim.key}`]);
  const { rows } = await tx.query(
    'SELECT fingerprint, status, response, chat_id FROM idempotency_keys WHERE owner_id = $1 AND key = $2',
    [claim.ownerId, claim.key],
  );
  const r = rows[0];
  return r ? { fingerprint: r.fingerprint, status: r.status, response: r.response, chatId: r.chat_id } : null;
}

export async function saveIdempotentResponse(
  tx: PoolClient, claim: IdempotencyClaim, status: number, response: unknown, chatId: string,
): Promise<void> {
  await tx.query(
    `INSERT INTO idempotency_keys (owner_id, key, fingerprint, status, response, chat_id) VALUES ($1, $2, $3, $4, $5, $6)`,
    [claim.ownerId, claim.key, claim.fingerprint, status, JSON.stringify(response), chatId],
  );
}
