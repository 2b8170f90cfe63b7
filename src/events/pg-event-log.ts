import type { Pool, PoolClient } from '../db/pool.ts';
import type { ChatEvent } from '../shared/types.ts';
import { EVENTS_CHANNEL } from './channels.ts';
import { MAX_INLINE_PAYLOAD_BYTES } from './notification.ts';
import type { EventLog } from './event-log.ts';
import { createAppendBatcher, eventsJson, storedEvents, type ChatRun } from './append-batcher.ts';

interface EventRow { id: number; type: string; data: unknown }

const toEvent = (chatId: string, row: EventRow): ChatEvent => ({ id: row.id, chatId, type: row.type, data: row.data }) as ChatEvent;

/**
 * SQL for the NOTIFY payload of one chat's events (see the comment on APPEND), from expressions for the
 * chat id (text), the first id, the events' JSON array (text) and their count.
 */
function payloadSql(chat: string, first: string, events: string, count: string): string {
  return `COALESCE(
  (SELECT p.payload FROM (
     SELECT '{"c":' || to_json(${chat}) || ',"e":['
            || string_agg('{"id":' || (${first} + e.ord - 1) || ',' || substr(e.v::text, 2), ',' ORDER BY e.ord)
            || ']}' AS payload
     FROM json_array_elements(${events}::json) WITH ORDINALITY AS e(v, ord)
     -- The inline form is longer than the array itself: do not parse the array again when it cannot fit.
     WHERE octet_length(${events}) <= ${MAX_INLINE_PAYLOAD_BYTES}
   ) p WHERE octet_length(p.payload) <= ${MAX_INLINE_PAYLOAD_BYTES}),
  '{"c":' || to_json(${chat}) || ',"from":' || ${first} || ',"to":' || (${first} + ${count} - 1) || '}')`;
}

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
SELECT alloc.first, pg_notify('${EVENTS_CHANNEL}', ${payloadSql('$1::text', 'alloc.first', '$3::text', '$2::int')})
FROM alloc`,
};

/*
 * APPEND for several chats at once: the batch statement of append-batcher.ts (one commit for all). $1 is
 * one JSON array with an element per chat, {"c": chat id as the caller spelled it, "n": event count,
 * "e": the chat's JSON array of {type, data}}, written by batchJson around each run's JSON as it is. One
 * text parameter instead of three arrays: pg escapes every quote of an array element, which made this
 * statement the worker's biggest allocator after the OpenAI SDK while streaming. As json (not jsonb),
 * `r->'e'` is the element's text as sent, so the payloads keep APPEND's bytes. The chats' rows are
 * locked in id order before any is updated, so two writers' batches over overlapping chats queue up
 * instead of deadlocking. A deleted chat has no row to lock: it gets no ids, no events and no
 * notification. One NOTIFY per chat, with the payload APPEND would send for that chat's events.
 */
const APPEND_MANY = {
  name: 'parley_event_log_append_many',
  text: `
WITH input AS MATERIALIZED (
  SELECT r->>'c' AS chat, (r->>'n')::int AS n, (r->'e')::text AS events
  FROM json_array_elements($1::text::json) AS r
), locked AS MATERIALIZED (
  SELECT id FROM chats WHERE id IN (SELECT chat::uuid FROM input) ORDER BY id FOR UPDATE
), alloc AS (
  -- Only rows already locked above: the UPDATE re-locks rows this statement holds.
  UPDATE chats SET last_event_id = chats.last_event_id + i.n
  FROM locked JOIN input i ON i.chat::uuid = locked.id
  WHERE chats.id = locked.id
  RETURNING i.chat, i.n, i.events, chats.last_event_id - i.n + 1 AS first
), ins AS (
  INSERT INTO chat_events (chat_id, id, type, data, message_id)
  SELECT a.chat::uuid, a.first + e.ord - 1, e.v->>'type', e.v->'data',
         CASE WHEN e.v->>'type' = 'message_part' THEN (e.v->'data'->>'messageId')::uuid END
  FROM alloc a, jsonb_array_elements(a.events::jsonb) WITH ORDINALITY AS e(v, ord)
)
SELECT a.chat, a.first, pg_notify('${EVENTS_CHANNEL}', ${payloadSql('a.chat', 'a.first', 'a.events', 'a.n')})
FROM alloc a`,
};

/** APPEND_MANY's parameter: the runs' JSON arrays embedded as they are (no re-serialisation, no escaping). */
function batchJson(runs: ChatRun[]): string {
  return `[${runs.map((r) => `{"c":${JSON.stringify(r.chatId)},"n":${r.count},"e":${r.json}}`).join(',')}]`;
}

/** One chat's events with APPEND, on the pool or inside a transaction: the first id, null for a deleted chat. */
async function appendRun(client: Pool | PoolClient, run: ChatRun): Promise<number | null> {
  const { rows } = await client.query<{ first: string | number }>({ ...APPEND, values: [run.chatId, run.count, run.json] });
  // int8: a string unless pool.ts's type parser is installed.
  return rows.length === 0 ? null : Number(rows[0]!.first);
}

/**
 * The event log in PostgreSQL. Ids come from `chats.last_event_id`: the UPDATE takes the chat's row lock
 * until commit, so appends to one chat are serialised and commit in id order (a reader that saw id N has
 * seen every id below it), and a rollback returns its ids, so committed ids have no gaps.
 */
export function createPgEventLog(pool: Pool): EventLog {
  // Outside a transaction, appends go through the batcher: the calls of many chats made while one
  // statement runs share the next statement and its commit. A lone chat keeps the one-chat statement.
  // The price: a batch waiting for one chat's row lock (a transaction appending with `tx`) holds back
  // this process's other appends until that commit. So a transaction holding a chat's row must never
  // await an append without `tx`: a batch containing that chat would wait for it forever.
  const batcher = createAppendBatcher(async (runs) => {
    if (runs.length === 1) return [await appendRun(pool, runs[0]!)];
    const { rows } = await pool.query<{ chat: string; first: string | number }>({ ...APPEND_MANY, values: [batchJson(runs)] });
    const firsts = new Map(rows.map((r) => [r.chat, Number(r.first)]));
    return runs.map((r) => firsts.get(r.chatId) ?? null);
  });

  return {
    async append(chatId, events, tx) {
      if (!tx) return batcher.append(chatId, events);
      if (events.length === 0) return [];
      // `tx` must be inside BEGIN: the row lock has to be held until the caller's commit.
      const first = await appendRun(tx, { chatId, count: events.length, json: eventsJson(events) });
      // The chat was deleted (e.g. a workflow's cleanup racing a DELETE): nobody can read these events.
      return first === null ? [] : storedEvents(chatId, events, first);
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
