// The user-facing side of a chat's transcript: user messages written by the API, and the listing
// clients page through. The workflow writes the rest (db/turns.ts).
import { badRequest } from '../shared/errors.ts';
import type { Message, MessagePart } from '../shared/types.ts';
import { stepMessageId } from './turns.ts';
import type { PoolClient } from './pool.ts';
import { isUuid, MESSAGE_COLUMNS, toMessage, type Queryable } from './rows.ts';
import { storableText, toJsonb } from './json.ts';

export const MAX_MESSAGE_PAGE = 500;

/** Rejects content a model could do nothing with; returns it unchanged otherwise. */
export function checkContent(content: string): string {
  if (content.trim() === '') throw badRequest('content must not be empty');
  return storableText(content);
}

/**
 * Inserts the user message of `turn` at (turn, 0, 0). Its id is derived from the key, the same way
 * the workflow names a user message it takes from the queue, so either path yields the same id.
 */
export async function insertUserMessage(tx: PoolClient, chatId: string, turn: number, content: string): Promise<Message> {
  const parts: MessagePart[] = [{ type: 'text', text: content }];
  const { rows } = await tx.query(
    `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility)
     VALUES ($1, $2, $3, 0, 0, 'user', $4, 'both') RETURNING ${MESSAGE_COLUMNS}`,
    [stepMessageId(chatId, turn, 0, 0), chatId, turn, toJsonb(parts)],
  );
  return toMessage(rows[0]);
}

/**
 * User-visible messages of a chat in transcript order, after the message `after` if given.
 * The caller has checked that the chat is the user's.
 */
export async function listMessages(
  db: Queryable, chatId: string, opts: { after?: string | undefined; limit: number },
): Promise<Message[]> {
  const limit = Math.min(Math.max(opts.limit, 1), MAX_MESSAGE_PAGE);
  if (opts.after) {
    const ref = isUuid(opts.after)
      ? (await db.query('SELECT turn, step, idx FROM messages WHERE chat_id = $1 AND id = $2', [chatId, opts.after])).rows[0]
      : undefined;
    if (!ref) throw badRequest(`after: message ${opts.after} is not in this chat`);
    const { rows } = await db.query(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE chat_id = $1 AND visibility IN ('user', 'both') AND (turn, step, idx) > ($2, $3, $4)
       ORDER BY turn, step, idx LIMIT $5`,
      [chatId, ref.turn, ref.step, ref.idx, limit],
    );
    return rows.map(toMessage);
  }
  const { rows } = await db.query(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 AND visibility IN ('user', 'both')
     ORDER BY turn, step, idx LIMIT $2`,
    [chatId, limit],
  );
  return rows.map(toMessage);
}
