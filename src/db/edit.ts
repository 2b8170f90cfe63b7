// The transaction of an edit (src/chats/edit.ts): the transcript from a user message on is replaced
// by a new turn that starts with the edited content. It keeps the chat status invariant of
// src/chats/service.ts: the rewrite happens only while no turn runs, under the chat row lock (the
// lock advanceChat takes), so the workflow either settled before it or begins the new turn after it.
import type { EventLog } from '../events/event-log.ts';
import { conflict, notFound } from '../shared/errors.ts';
import type { Message } from '../shared/types.ts';
import { recomputeCompression } from './compaction.ts';
import { insertUserMessage } from './messages.ts';
import { resolveModel } from './models.ts';
import type { EnvKeys } from './providers.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { isUuid } from './rows.ts';

export type EditAttempt =
  | { done: true; message: Message; modelName: string }
  | { done: false; turn: number; modelName: string | null };

async function lockEditable(tx: PoolClient, ownerId: string, chatId: string, messageId: string) {
  const { rows } = await tx.query(
    'SELECT status, turn, model_id FROM chats WHERE id = $1 AND owner_id = $2 FOR UPDATE',
    [chatId, ownerId],
  );
  const chat = rows[0] as { status: string; turn: number; model_id: string | null } | undefined;
  if (!chat) throw notFound('chat');
  const msg = isUuid(messageId)
    ? (await tx.query('SELECT turn, step, idx, role FROM messages WHERE id = $1 AND chat_id = $2', [messageId, chatId])).rows[0] as
        { turn: number; step: number; idx: number; role: string } | undefined
    : undefined;
  if (!msg) throw notFound('message');
  if (msg.role !== 'user') throw conflict('only user messages can be edited');
  return { chat, msg };
}

async function modelNameOf(tx: PoolClient, modelId: string | null): Promise<string | null> {
  if (!modelId) return null;
  return ((await tx.query('SELECT model FROM models WHERE id = $1', [modelId])).rows[0]?.model as string | undefined) ?? null;
}

/** One try: rewrites the transcript if no turn runs; otherwise clears the queue and reports the running turn. */
export async function attemptEdit(
  deps: { pool: Pool; events: EventLog; config: EnvKeys }, ownerId: string, chatId: string, messageId: string, content: string,
): Promise<EditAttempt> {
  return withTransaction(deps.pool, async (tx): Promise<EditAttempt> => {
    const { chat, msg } = await lockEditable(tx, ownerId, chatId, messageId);
    if (chat.status === 'running') {
      // Emptied before the interrupt: otherwise the workflow would start the next queued message as
      // soon as the interrupted turn settles, and the chat would stay busy.
      const cleared = await tx.query('DELETE FROM queued_messages WHERE chat_id = $1', [chatId]);
      if (cleared.rowCount) await deps.events.append(chatId, [{ type: 'queue_update', data: { queue: [] } }], tx);
      return { done: false, turn: chat.turn, modelName: await modelNameOf(tx, chat.model_id) };
    }
    // Idle, or pending (its turn not begun: advanceChat will begin whatever turn is pending after this
    // commit). Checked before changing anything, like a new message: one that can't run is refused.
    const model = await resolveModel(tx, chat.model_id, deps.config);
    await tx.query(
      'DELETE FROM messages WHERE chat_id = $1 AND (turn, step, idx) >= ($2, $3, $4)',
      [chatId, msg.turn, msg.step, msg.idx],
    );
    await tx.query('DELETE FROM queued_messages WHERE chat_id = $1', [chatId]);
    // A summary after the edited message is gone: what it had compressed comes back.
    await recomputeCompression(tx, chatId);
    // Deltas whose message is gone would be replayed to fresh clients as "still streaming".
    await tx.query(
      `DELETE FROM chat_events e WHERE e.chat_id = $1 AND e.type = 'message_part' AND e.message_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)`,
      [chatId],
    );
    // A new turn number rather than the edited one: message ids derive from (turn, step, idx), and an
    // id must never name two different messages (clients and the event log know the old ones).
    const turn = chat.turn + 1;
    const message = await insertUserMessage(tx, chatId, turn, content);
    await tx.query(
      `UPDATE chats SET turn = $2, status = 'pending', last_error = null, context_tokens = null, updated_at = now() WHERE id = $1`,
      [chatId, turn],
    );
    await deps.events.append(chatId, [
      { type: 'queue_update', data: { queue: [] } },
      { type: 'status', data: { status: 'pending' } },
      { type: 'message', data: message },
    ], tx);
    return { done: true, message, modelName: model.model };
  });
}

/** The chat's status and turn, for waiting until an interrupted turn has settled; undefined when it is gone. */
export async function chatTurnState(db: Pool, chatId: string): Promise<{ status: string; turn: number } | undefined> {
  const { rows } = await db.query('SELECT status, turn FROM chats WHERE id = $1', [chatId]);
  return rows[0] as { status: string; turn: number } | undefined;
}
