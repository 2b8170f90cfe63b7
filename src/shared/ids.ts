import { createHash } from 'node:crypto';

// Parley's ids are uuids (chats, messages, users, models, providers, tokens).
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids come from URLs and directory names: anything that isn't a uuid can't exist, and must not reach a uuid column. */
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);

/**
 * A uuid derived from `key` (sha-256, shaped as a UUIDv8, "custom"): the same key always names the
 * same row, so a retried write finds what its first attempt stored instead of storing it twice.
 */
export function uuidFromKey(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
