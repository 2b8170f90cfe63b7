// Idempotency-Key for the requests that create something (POST /chats, POST /chats/:id/messages),
// with the semantics of the IETF draft "The Idempotency-Key HTTP Header Field": a retry with the same
// key and the same request gets the first response instead of a second chat or message; the same key
// with a different request is refused with 422; keys expire after a day.
import { createHash } from 'node:crypto';
import { DomainError, badRequest } from '../shared/errors.ts';
import { lockIdempotencyKey, saveIdempotentResponse, type IdempotencyClaim } from '../db/idempotency.ts';
import type { PoolClient } from '../db/pool.ts';

export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** The claim for a request carrying `Idempotency-Key: key`, or undefined without one. */
export function idempotencyClaim(
  ownerId: string, key: string | undefined, request: { method: string; route: string; body: unknown },
): IdempotencyClaim | undefined {
  if (key === undefined) return undefined;
  if (!KEY_RE.test(key)) {
    throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good key)');
  }
  const fingerprint = createHash('sha256').update(JSON.stringify([request.method, request.route, canonical(request.body)])).digest('hex');
  return { ownerId, key, fingerprint };
}

/** JSON with object keys sorted, so the same body always has the same fingerprint. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

export type Replay<T> = { replayed: true; response: T; chatId: string } | { replayed: false };

/**
 * In the request's transaction, before its work: the earlier response for this key, or
 * `{replayed: false}` when the work is to be done (then call `remember` in the same transaction).
 */
export async function checkIdempotency<T>(tx: PoolClient, claim: IdempotencyClaim | undefined): Promise<Replay<T>> {
  if (!claim) return { replayed: false };
  const stored = await lockIdempotencyKey(tx, claim);
  if (!stored) return { replayed: false };
  if (stored.fingerprint !== claim.fingerprint) {
    throw new DomainError('unprocessable', 'idempotency_key_reused',
      'this Idempotency-Key was already used for a different request; use a new key for a new request');
  }
  return { replayed: true, response: stored.response as T, chatId: stored.chatId! };
}

export async function remember(tx: PoolClient, claim: IdempotencyClaim | undefined, status: number, response: unknown, chatId: string): Promise<void> {
  if (claim) await saveIdempotentResponse(tx, claim, status, response, chatId);
}
