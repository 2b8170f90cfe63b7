// Messages sent while a chat is busy. PostgreSQL holds the queue; the workflow takes its head
// (lowest position) under the chat row lock when a turn ends. Every write here happens under that
// same lock, so the API and the workflow never interleave on one chat's queue.
import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '../shared/errors.ts';
import type { EventLog } from '../events/event-log.ts';
import type { QueuedMessage } from '../shared/types.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { isUuid, toQueued, type Queryable } from './rows.ts';

export const MAX_QUEUED = 20;

export async function listQueue(db: Queryable, chatId: string): Promise<QueuedMessage[]> {
  const { rows } = await db.query(
    'SELECT id, chat_id, content, created_at FROM queued_messages WHERE chat_id = $1 ORDER BY position, created_at, id',
    [chatId],
  );
  return rows.map(toQueued);
}

/**
 * Appends a message to the queue (or puts it first, for `front`). The caller holds the chat row lock.
 * Returns the new entry and the whole queue, for the queue_update event.
 */
export async function enqueue(
  tx: PoolClient, chatId: string, content: string, front: boolean,
): Promise<{ queued: QueuedMessage; queue: QueuedMessage[] }> {
  const { rows } = await tx.query(
    'SELECT count(*)::int AS n, min(position) AS min, max(position) AS max FROM queued_messages WHERE chat_id = $1',
    [chatId],
  );
  const stats = rows[0] as { n: number; min: number | null; max: number | null };
  if (stats.n >= MAX_QUEUED) throw conflict(`queue is full (${MAX_QUEUED} messages)`);
  const position = front ? (stats.min ?? 1) - 1 : (stats.max ?? 0) + 1;
  const ins = await tx.query(
    'INSERT INTO queued_messages (id, chat_id, content, position) VALUES ($1, $2, $3, $4) RETURNING id, chat_id, content, created_at',
    [randomUUID(), chatId, content, position],
  );
  return { queued: toQueued(ins.rows[0]), queue: await listQueue(tx, chatId) };
}

/** Locks the chat row if `ownerId` owns the chat; false otherwise (other users' chats don't exist for them). */
export async function lockOwnedChat(tx: PoolClient, ownerId: string, chatId: string): Promise<boolean> {
  if (!isUuid(chatId)) return false;
  const { rows } = await tx.query('SELECT id FROM chats WHERE id = $1 AND owner_id = $2 FOR UPDATE', [chatId, ownerId]);
  return rows.length > 0;
}

async function changeQueue(
  pool: Pool, events: EventLog, ownerId: string, chatId: string, queuedId: string,
  change: (tx: PoolClient) => Promise<number>,
): Promise<QueuedMessage[]> {
  return withTransaction(pool, async (tx) => {
    if (!(await lockOwnedChat(tx, ownerId, chatId))) throw notFound('chat');
    if (!isUuid(queuedId) || (await change(tx)) === 0) throw notFound('queued message');
    const queue = await listQueue(tx, chatId);
    await events.append(chatId, [{ type: 'queue_update', data: { queue } }], tx);
    return queue;
  });
}

export async function removeQueued(pool: Pool, events: EventLog, ownerId: string, chatId: string, queuedId: string): Promise<QueuedMessage[]> {
  return changeQueue(pool, events, ownerId, chatId, queuedId, async (tx) =>
    (await tx.query('DELETE FROM queued_messages WHERE id = $1 AND chat_id = $2', [queuedId, chatId])).rowCount ?? 0);
}

/** Moves a queued message to the front, so it is the next one the workflow takes. */
export async function promoteQueued(pool: Pool, events: EventLog, ownerId: string, chatId: string, queuedId: string): Promise<QueuedMessage[]> {
  return changeQueue(pool, events, ownerId, chatId, queuedId, async (tx) =>
    (await tx.query(
      `UPDATE queued_messages SET position = (SELECT min(position) - 1 FROM queued_messages WHERE chat_id = $2)
       WHERE id = $1 AND chat_id = $2`,
      [queuedId, chatId],
    )).rowCount ?? 0);
}
