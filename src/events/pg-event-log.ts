import type { Pool } from '../db/pool.ts';
import type { ChatEvent } from '../shared/types.ts';
import { EVENTS_CHANNEL, MAX_INLINE_PAYLOAD_BYTES } from './notification.ts';
import type { EventLog } from './types.ts';
import { toJsonb } from '../db/json.ts';

interface EventRow { id: number; type: string; data: unknown }

const toEvent = (chatId: string, row: EventRow): ChatEvent => ({ id: row.id, chatId, type: row.type, data: row.data }) as ChatEvent;

/*
 * One statement, so an append outside a transaction is a single round trip in autocommit: it is its own
 * transaction, holding the chat's row lock from the UPDATE until its commit, and the NOTIFY goes out on
 * that commit. A deleted chat updates no row: nothing is inserted, no row comes back, nothing is notified.
 * $1 chat id, $2 number of events, $3 the events' JSON array of {type, data}: serialised once, parsed as
 * jsonb for the INSERT and as json for the payload. Every use casts from text: a uuid parameter would
 * respell the chat id in the payload, a jsonb one would re-serialise the events with other spacing and key
 * order. json keeps each element's text as sent, so the inline payload is the same bytes JSON.stringify
 * gives: {"c":chatId,"e":[{"id":..,"type":..,"data":..}]} while it fits in MAX_INLINE_PAYLOAD_BYTES
 * (UTF-8 bytes), else {"c":chatId,"from":first,"to":last}; see decodeNotification.
 */
const APPEND = {
  // Planning this statement costs more than the round trips it saves (measured): prepare it once per connection.
  name: 'parley_event_log_append',
  text: `
WITH alloc AS (
  UPDATE chats SET last_event_id = last_event_id + $2::int WHERE id = $1::text::uuid
  RETURNING last_event_id - $2::int + 1 AS first
), ins AS (
  INSERT INTO chat_events (chat_id, id, type, data, message_id)
  SELECT $1::text::uuid, alloc.first + e.ord - 1, e.v->>'type', e.v->'data',
         CASE WHEN e.v->>'type' = 'message_part' THEN (e.v->'data'->>'messageId')::uuid END
  FROM alloc, jsonb_array_elements($3::text::jsonb) WITH ORDINALITY AS e(v, ord)
)
SELECT alloc.first, pg_notify('${EVENTS_CHANNEL}', COALESCE(
  (SELECT p.payload FROM (
     SELECT '{"c":' || to_json($1::text) || ',"e":['
            || string_agg('{"id":' || (alloc.first + e.ord - 1) || ',' || substr(e.v::text, 2), ',' ORDER BY e.ord)
            || ']}' AS payload
     FROM json_array_elements($3::text::json) WITH ORDINALITY AS e(v, ord)
     -- The inline form is longer than the array itself: do not parse the array again when it cannot fit.
     WHERE octet_length($3::text) <= ${MAX_INLINE_PAYLOAD_BYTES}
   ) p WHERE octet_length(p.payload) <= ${MAX_INLINE_PAYLOAD_BYTES}),
  '{"c":' || to_json($1::text) || ',"from":' || alloc.first || ',"to":' || (alloc.first + $2::int - 1) || '}'))
FROM alloc`,
};

/**
 * The event log in PostgreSQL. Ids come from `chats.last_event_id`: the UPDATE takes the chat's row lock
 * until commit, so appends to one chat are serialised and commit in id order (a reader that saw id N has
 * seen every id below it), and a rollback returns its ids, so committed ids have no gaps.
 */
export function createPgEventLog(pool: Pool): EventLog {
  return {
    async append(chatId, events, tx) {
      if (events.length === 0) return [];
      // `tx` must be inside BEGIN: the row lock has to be held until the caller's commit.
      const { rows } = await (tx ?? pool).query<{ first: string | number }>({
        ...APPEND,
        values: [chatId, events.length, toJsonb(events.map(({ type, data }) => ({ type, data })))],
      });
      // The chat was deleted (e.g. a workflow's cleanup racing a DELETE): nobody can read these events.
      if (rows.length === 0) return [];
      // int8: a string unless pool.ts's type parser is installed.
      const first = Number(rows[0]!.first);
      return events.map((e, i) => ({ ...e, id: first + i, chatId }) as ChatEvent);
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
