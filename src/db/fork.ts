// Forking a chat: a new chat whose transcript is a copy of the source's up to a message. Copies keep
// their (turn, step, idx) keys, so the fork's next turn continues the numbering; their ids are
// derived from the fork's id and that key, the way the workflow names messages.
import { randomUUID } from 'node:crypto';
import { notFound } from '../shared/errors.ts';
import { defaultTitle, requireChat } from './chats.ts';
import { withTransaction, type Pool } from './pool.ts';
import { isUuid, type Chat } from './rows.ts';
import { recomputeCompression } from './compaction.ts';
import { closeDanglingToolCalls, stepMessageId } from './turns.ts';

interface Key { id: string; turn: number; step: number; idx: number }

/**
 * Copies the source chat's messages up to and including `messageId` into a new idle chat. The cut is
 * widened to a whole step when it falls on an assistant or tool message, so the copied tool calls
 * keep their results; a call that still has none (the source was mid-step) gets the error result
 * an interrupted turn leaves, so the fork's next prompt is valid for every provider.
 */
export async function forkChat(pool: Pool, owner: { id: string }, chatId: string, messageId: string): Promise<Chat> {
  if (!isUuid(chatId)) throw notFound('chat');
  return withTransaction(pool, async (tx) => {
    // One snapshot for every read below, without locking the source (its turn may be running).
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const { rows: [source] } = await tx.query(
      'SELECT title, model_id FROM chats WHERE id = $1 AND owner_id = $2',
      [chatId, owner.id],
    );
    if (!source) throw notFound('chat');
    const { rows: [cut] } = isUuid(messageId)
      ? await tx.query('SELECT turn, step, idx, role FROM messages WHERE id = $1 AND chat_id = $2', [messageId, chatId])
      : { rows: [] };
    if (!cut) throw notFound('message');
    const wholeStep = cut.role === 'assistant' || cut.role === 'tool';
    const { rows: keys } = await tx.query<Key>(
      `SELECT id, turn, step, idx FROM messages
       WHERE chat_id = $1 AND ((turn, step, idx) <= ($2, $3, $4) OR ($5 AND turn = $2 AND step = $3))
       ORDER BY turn, step, idx`,
      [chatId, cut.turn, cut.step, cut.idx, wholeStep],
    );

    const forkId = randomUUID();
    await tx.query(
      `INSERT INTO chats (id, owner_id, title, status, model_id, parent_chat_id, turn) VALUES ($1, $2, $3, 'waiting', $4, $5, $6)`,
      [forkId, owner.id, defaultTitle(`Fork of ${source.title as string}`), source.model_id, chatId, cut.turn],
    );
    await tx.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility, compressed, tool_call_id,
                             model_id, model, usage, cost_micros, finish_reason, created_at, forked_from)
       SELECT k.new_id, $1, m.turn, m.step, m.idx, m.role, m.parts, m.visibility, m.compressed, m.tool_call_id,
              m.model_id, m.model, m.usage, m.cost_micros, m.finish_reason, m.created_at, m.id
       FROM unnest($2::uuid[], $3::uuid[]) AS k(old_id, new_id) JOIN messages m ON m.id = k.old_id`,
      [forkId, keys.map((k) => k.id), keys.map((k) => stepMessageId(forkId, k.turn, k.step, k.idx))],
    );
    await closeDanglingToolCalls(tx, forkId);
    await recomputeCompression(tx, forkId);
    return requireChat(tx, owner.id, forkId);
  });
}
