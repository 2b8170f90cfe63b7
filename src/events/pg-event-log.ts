import { withTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import type { ChatEvent, NewChatEvent } from '../shared/types.ts';
import { encodeNotification, EVENTS_CHANNEL } from './notification.ts';
import type { EventLog } from './types.ts';
import { toJsonb } from '../db/json.ts';

interface EventRow { id: number; type: string; data: unknown }

const toEvent = (chatId: string, row: EventRow): ChatEvent => ({ id: row.id, chatId, type: row.type, data: row.data }) as ChatEvent;

/**
 * The event log in PostgreSQL. Ids come from `chats.last_event_id`: the UPDATE takes the chat's row lock
 * until commit, so appends to one chat are serialised and commit in id order (a reader that saw id N has
 * seen every id below it), and a rollback returns its ids, so committed ids have no gaps.
 */
export function createPgEventLog(pool: Pool): EventLog {
  async function appendIn(client: PoolClient, chatId: string, events: NewChatEvent[]): Promise<ChatEvent[]> {
    const alloc = await client.query<{ last_event_id: number }>(
      'UPDATE chats SET last_event_id = last_event_id + $2 WHERE id = $1 RETURNING last_event_id',
      [chatId, events.length],
    );
    // The chat was deleted (e.g. a workflow's cleanup racing a DELETE): nobody can read these events.
    if (alloc.rowCount === 0) return [];
    const first = alloc.rows[0]!.last_event_id - events.length + 1;
    await client.query(
      `INSERT INTO chat_events (chat_id, id, type, data, message_id)
       SELECT $1, $2::bigint + e.ord - 1, e.v->>'type', e.v->'data',
              CASE WHEN e.v->>'type' = 'message_part' THEN (e.v->'data'->>'messageId')::uuid END
       FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(v, ord)`,
      [chatId, first, toJsonb(events.map(({ type, data }) => ({ type, data })))],
    );
    const stored = events.map((e, i) => ({ ...e, id: first + i, chatId }) as ChatEvent);
    // Delivered by PostgreSQL only if and when the transaction commits.
    await client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, encodeNotification(chatId, stored)]);
    return stored;
  }

  return {
    async append(chatId, events, tx) {
      if (events.length === 0) return [];
      // `tx` must be inside BEGIN: the row lock has to be held until the caller's commit.
      if (tx) return appendIn(tx, chatId, events);
      return withTransaction(pool, (client) => appendIn(client, chatId, events));
    },

    async readAfter(chatId, afterId, limit) {
      const { rows } = await pool.query<EventRow>(
        'SELECT id, type, data FROM chat_events WHERE chat_id = $1 AND id > $2 ORDER BY id LIMIT $3',
        [chatId, afterId, limit ?? null],
      );
      return rows.map((r) => toEvent(chatId, r));
    },

    async inProgressParts(chatId) {
      // Deltas are pruned in the transaction that stores their message; the NOT EXISTS only guards
      // against a writer that stored a message without pruning.
      const { rows } = await pool.query<EventRow>(
        `SELECT e.id, e.type, e.data FROM chat_events e
         WHERE e.chat_id = $1 AND e.message_id IS NOT NULL AND e.type = 'message_part'
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)
         ORDER BY e.id`,
        [chatId],
      );
      return rows.map((r) => toEvent(chatId, r));
    },

    async pruneParts(chatId, messageId, tx) {
      await (tx ?? pool).query(
        `DELETE FROM chat_events WHERE chat_id = $1 AND message_id = $2 AND type = 'message_part'`,
        [chatId, messageId],
      );
    },

    async lastEventId(chatId) {
      const { rows } = await pool.query<{ last_event_id: number }>('SELECT last_event_id FROM chats WHERE id = $1', [chatId]);
      return rows[0]?.last_event_id ?? 0;
    },
  };
}
