// Chats and the send-message transaction, the invariant the workflow relies on:
//   pending  = a user message at turn `chats.turn` waits for the workflow
//   running  = the workflow runs turn `chats.turn`
//   waiting / error = idle.
// A message sent to an idle chat starts a turn; one sent to a busy chat is queued. Either way the
// decision, the data and its events commit together under the chat row lock (the lock the
// workflow's advanceChat takes too), and only then is the workflow woken: PostgreSQL is the source
// of truth, and a lost wake is repaired by the next one.
import { randomUUID } from 'node:crypto';
import type { ApiDeps } from '../api/deps.ts';
import { badRequest, conflict, HttpError, notFound, type ErrorDetails } from '../api/errors.ts';
import { checkIdempotency, remember } from '../chats/idempotency.ts';
import type { IdempotencyClaim } from './idempotency.ts';
import type { EventLog } from '../events/types.ts';
import { notifyInterrupt } from '../worker/interrupts.ts';
import type { ChatStatus, Message, QueuedMessage } from '../shared/types.ts';
import { storableText } from './json.ts';
import { checkContent, insertUserMessage } from './messages.ts';
import { resolveModel } from './models.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { enqueue, listQueue } from './queue.ts';
import { isUuid, toChat, type Chat, type ChatRow, type Queryable } from './rows.ts';

export type ChatDeps = Pick<ApiDeps, 'pool' | 'events' | 'workflows' | 'config'>;

export const TITLE_MAX = 60;
export const MAX_CHAT_PAGE = 200;

/** The first words of a message, at most TITLE_MAX characters, cut at a word boundary. */
export function defaultTitle(content: string): string {
  const text = content.replace(/\s+/g, ' ').trim();
  if (text.length <= TITLE_MAX) return text;
  const cut = text.slice(0, TITLE_MAX + 1);
  const space = cut.lastIndexOf(' ');
  // A single word longer than the limit is cut mid-word rather than dropped.
  return (space > 0 ? cut.slice(0, space) : text.slice(0, TITLE_MAX)).trimEnd();
}

/**
 * Calls Temporal, turning any failure into a 503 that names what was saved (`details`). Used after
 * commit: the data is stored either way, and the reconciler (src/chats/reconciler.ts) starts the
 * chat's workflow within seconds of Temporal coming back.
 */
export async function temporalCall<T>(what: string, fn: () => Promise<T>, details: ErrorDetails = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const e = new HttpError(503, 'temporal_unavailable',
      `${what}: Temporal is unavailable (${detail}). It starts by itself once Temporal is reachable again.`,
      { 'retry-after': '5' }, details);
    e.cause = err;
    throw e;
  }
}

const CHAT_SELECT = `SELECT c.id, c.title, c.status, c.model_id, c.parent_chat_id, c.last_error, c.archived,
    c.created_at, c.updated_at, c.created_at::text AS created_key,
    u.input_tokens, u.output_tokens, u.cost_micros
  FROM chats c
  CROSS JOIN LATERAL (
    -- float8: a bigint sum can overflow and fail the whole listing (see db/usage.ts).
    SELECT coalesce(sum((m.usage->>'inputTokens')::float8), 0) AS input_tokens,
           coalesce(sum((m.usage->>'outputTokens')::float8), 0) AS output_tokens,
           coalesce(sum(m.cost_micros::float8), 0) AS cost_micros
    FROM messages m WHERE m.chat_id = c.id
  ) u`;

export async function getChat(db: Queryable, ownerId: string, chatId: string): Promise<Chat | null> {
  if (!isUuid(chatId)) return null;
  const { rows } = await db.query(`${CHAT_SELECT} WHERE c.id = $1 AND c.owner_id = $2`, [chatId, ownerId]);
  return rows[0] ? toChat(rows[0] as ChatRow) : null;
}

export async function requireChat(db: Queryable, ownerId: string, chatId: string): Promise<Chat> {
  const chat = await getChat(db, ownerId, chatId);
  if (!chat) throw notFound('chat');
  return chat;
}

// The cursor is the last row's sort key; opaque to clients so the order can change later.
const encodeCursor = (createdKey: string, id: string): string => Buffer.from(JSON.stringify([createdKey, id])).toString('base64url');
function decodeCursor(cursor: string): [string, string] {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && isUuid(v[1])) {
      return [v[0], v[1]];
    }
  } catch { /* reported below */ }
  throw badRequest('cursor is invalid: pass the nextCursor of a previous page');
}

/** The user's chats, newest first. */
export async function listChats(
  db: Queryable, ownerId: string, opts: { archived: boolean; limit: number; cursor?: string | undefined },
): Promise<{ chats: Chat[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(opts.limit, 1), MAX_CHAT_PAGE);
  const [afterKey, afterId] = opts.cursor ? decodeCursor(opts.cursor) : [null, null];
  const { rows } = await db.query(
    `${CHAT_SELECT}
     WHERE c.owner_id = $1 AND c.archived = $2
       AND ($3::timestamptz IS NULL OR (c.created_at, c.id) < ($3::timestamptz, $4::uuid))
     ORDER BY c.created_at DESC, c.id DESC LIMIT $5`,
    [ownerId, opts.archived, afterKey, afterId, limit + 1],
  );
  const page = rows.slice(0, limit) as Array<ChatRow & { created_key: string }>;
  const last = page.at(-1);
  return {
    chats: page.map(toChat),
    nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : null,
  };
}

export async function updateChat(
  pool: Pool, events: EventLog, ownerId: string, chatId: string, patch: { title?: string; archived?: boolean },
): Promise<Chat> {
  return withTransaction(pool, async (tx) => {
    const { rows } = isUuid(chatId)
      ? await tx.query('SELECT title FROM chats WHERE id = $1 AND owner_id = $2 FOR UPDATE', [chatId, ownerId])
      : { rows: [] };
    if (!rows[0]) throw notFound('chat');
    const title = patch.title === undefined ? undefined : storableText(patch.title.trim());
    if (patch.title !== undefined && !title) throw badRequest('title must not be empty');
    await tx.query(
      `UPDATE chats SET title = coalesce($2, title), archived = coalesce($3, archived), updated_at = now() WHERE id = $1`,
      [chatId, title ?? null, patch.archived ?? null],
    );
    // Clients watching the chat show its title: tell them when it changes.
    if (title !== undefined && title !== rows[0].title) await events.append(chatId, [{ type: 'title', data: { title } }], tx);
    return requireChat(tx, ownerId, chatId);
  });
}

/** Cancels the chat's workflow, then deletes the chat (the workflow's cleanup tolerates a missing chat). */
export async function deleteChat(deps: Pick<ApiDeps, 'pool' | 'workflows'>, ownerId: string, chatId: string): Promise<void> {
  await requireChat(deps.pool, ownerId, chatId);
  await temporalCall('could not stop the chat workflow', () => deps.workflows.cancel(chatId));
  const res = await deps.pool.query('DELETE FROM chats WHERE id = $1 AND owner_id = $2', [chatId, ownerId]);
  if (!res.rowCount) throw notFound('chat');
}

/** Creates a chat with its first user message; its first turn starts right away. */
export async function createChat(
  deps: ChatDeps, owner: { id: string },
  input: { content: string; modelId?: string | undefined; title?: string | undefined },
  idempotency?: IdempotencyClaim,
): Promise<{ chat: Chat; message: Message }> {
  const content = checkContent(input.content);
  const outcome = await withTransaction(deps.pool, async (tx) => {
    const prior = await checkIdempotency<{ chat: Chat; message: Message }>(tx, idempotency);
    if (prior.replayed) return { result: prior.response, chatId: prior.chatId, modelName: await chatModelName(tx, prior.chatId) };
    const chatId = randomUUID();
    const title = storableText(input.title?.trim() || defaultTitle(content));
    const model = await resolveModel(tx, input.modelId, deps.config);
    await tx.query(
      // title_auto: no title was given, so the workflow generates one after the first message.
      `INSERT INTO chats (id, owner_id, title, status, model_id, turn, title_auto) VALUES ($1, $2, $3, 'pending', $4, 1, $5)`,
      [chatId, owner.id, title, model.id, !input.title?.trim()],
    );
    const message = await insertUserMessage(tx, chatId, 1, content);
    await deps.events.append(chatId, [{ type: 'status', data: { status: 'pending' } }, { type: 'message', data: message }], tx);
    const result = { chat: await requireChat(tx, owner.id, chatId), message };
    await remember(tx, idempotency, 201, result, chatId);
    return { result, chatId, modelName: model.model as string | null | undefined };
  });
  // A replay wakes the chat again: the first attempt may have answered 503 before its wake got
  // through. A replayed chat that was deleted since (no model name row) is left alone.
  if (outcome.modelName !== undefined) {
    await temporalCall(`chat ${outcome.chatId} was saved but its turn could not start`, () =>
      deps.workflows.wake({ id: outcome.chatId, ownerId: owner.id, model: outcome.modelName ?? null }),
    { chatId: outcome.chatId, messageId: outcome.result.message.id });
  }
  return outcome.result;
}

/** The chat's model name (null without a model), or undefined when the chat no longer exists. */
async function chatModelName(db: Queryable, chatId: string): Promise<string | null | undefined> {
  const { rows } = await db.query('SELECT m.model FROM chats c LEFT JOIN models m ON m.id = c.model_id WHERE c.id = $1', [chatId]);
  return rows[0] ? (rows[0].model as string | null) : undefined;
}

export type SendBehavior = 'queue' | 'interrupt';
export type SubmitResult =
  | { queued: false; message: Message }
  | { queued: true; queuedMessage: QueuedMessage };

/**
 * Sends a user message: starts a turn when the chat is idle, else queues it (`interrupt`: first in
 * the queue, and the running turn is interrupted so it comes next).
 */
export async function submitUserMessage(
  deps: ChatDeps, owner: { id: string }, chatId: string,
  input: { content: string; behavior?: SendBehavior | undefined },
  idempotency?: IdempotencyClaim,
): Promise<SubmitResult> {
  const content = checkContent(input.content);
  if (!isUuid(chatId)) throw notFound('chat');
  const outcome = await withTransaction(deps.pool, async (tx): Promise<{ result: SubmitResult; modelName: string | null; replayed: boolean }> => {
    const prior = await checkIdempotency<SubmitResult>(tx, idempotency);
    // The chat must still be there and the caller's (requireChat answers 404 otherwise).
    if (prior.replayed) return { result: prior.response, modelName: (await lockChat(tx, owner.id, chatId)).model_name, replayed: true };
    const chat = await lockChat(tx, owner.id, chatId);
    let result: SubmitResult;
    let modelName = chat.model_name;
    if (chat.status === 'waiting' || chat.status === 'error') {
      // Checked before storing anything, so a message that can't run is refused rather than stuck.
      const model = await resolveModel(tx, chat.model_id, deps.config);
      modelName = model.model;
      const turn = chat.turn + 1;
      const message = await insertUserMessage(tx, chatId, turn, content);
      await tx.query(
        `UPDATE chats SET turn = $2, status = 'pending', last_error = null, updated_at = now() WHERE id = $1`,
        [chatId, turn],
      );
      await deps.events.append(chatId, [{ type: 'status', data: { status: 'pending' } }, { type: 'message', data: message }], tx);
      result = { queued: false, message };
    } else {
      const { queued, queue } = await enqueue(tx, chatId, content, input.behavior === 'interrupt');
      await deps.events.append(chatId, [{ type: 'queue_update', data: { queue } }], tx);
      result = { queued: true, queuedMessage: queued };
    }
    await remember(tx, idempotency, 202, result, chatId);
    return { result, modelName, replayed: false };
  });
  const saved = outcome.result.queued ? { queuedMessageId: outcome.result.queuedMessage.id } : { messageId: outcome.result.message.id };
  // Also when busy: harmless for a running workflow, and restarts one that was lost.
  await temporalCall(`the message was saved in chat ${chatId} but the chat workflow could not be reached`, () =>
    deps.workflows.wake({ id: chatId, ownerId: owner.id, model: outcome.modelName }), { chatId, ...saved });
  // A replay does not interrupt again: the first request did, or its turn has moved on.
  if (outcome.result.queued && input.behavior === 'interrupt' && !outcome.replayed) await interruptChat(deps, owner, chatId, 'new message');
  return outcome.result;
}

/**
 * Interrupts the chat's turn; false when there was none. A turn whose message the workflow has not
 * picked up yet (status pending) is called off here, under the row lock the workflow takes to begin
 * it, so an early Ctrl-C is never lost; a running turn gets the workflow's `interrupt` signal.
 */
export async function interruptChat(deps: ChatDeps, owner: { id: string }, chatId: string, reason?: string): Promise<boolean> {
  if (!isUuid(chatId)) throw notFound('chat');
  const { status, turn } = await withTransaction(deps.pool, async (tx) => {
    const chat = await lockChat(tx, owner.id, chatId);
    if (chat.status === 'pending') {
      // The user message stays; queued messages behind it still run.
      await tx.query(`UPDATE chats SET status = 'waiting', updated_at = now() WHERE id = $1`, [chatId]);
      await deps.events.append(chatId, [{ type: 'status', data: { status: 'waiting', lastError: null } }], tx);
    }
    return chat;
  });
  if (status === 'pending') return true;
  if (status !== 'running') return false;
  return interruptRunningTurn(deps, chatId, turn, reason, 'could not interrupt the chat');
}

/**
 * The `interrupt` signal (the durable path: the workflow cancels the turn), then a NOTIFY straight to
 * the worker running the turn's step. The workflow sends that NOTIFY too, but only once it sees the
 * signal, and a workflow task held by a running local activity (a fast tool) delays signals until
 * it ends. False when no workflow runs for the chat.
 */
export async function interruptRunningTurn(deps: ChatDeps, chatId: string, turn: number, reason: string | undefined, failure: string): Promise<boolean> {
  const running = await temporalCall(failure, () => deps.workflows.interrupt(chatId, turn, reason));
  // Best effort: the signal was delivered, and the workflow sends the same NOTIFY once it sees it.
  if (running) await notifyInterrupt(deps.pool, chatId, turn).catch(() => {});
  return running;
}

interface LockedChat { status: ChatStatus; turn: number; model_id: string | null; model_name: string | null }

/**
 * Asks the workflow to compact an idle chat's context now (its summary and marker stream like any
 * compaction). Busy chats answer 409: a running turn compacts by itself when it needs to.
 */
export async function requestCompaction(deps: ChatDeps, owner: { id: string }, chatId: string): Promise<void> {
  if (!isUuid(chatId)) throw notFound('chat');
  const modelName = await withTransaction(deps.pool, async (tx) => {
    const chat = await lockChat(tx, owner.id, chatId);
    if (chat.status !== 'waiting' && chat.status !== 'error') {
      throw conflict(`the chat is ${chat.status}: compact it once the running turn is done`);
    }
    const model = await resolveModel(tx, chat.model_id, deps.config);
    await tx.query('UPDATE chats SET compact_requested = true, updated_at = now() WHERE id = $1', [chatId]);
    return model.model;
  });
  await temporalCall('the compaction was requested but could not start', () =>
    deps.workflows.wake({ id: chatId, ownerId: owner.id, model: modelName }));
}

async function lockChat(tx: PoolClient, ownerId: string, chatId: string): Promise<LockedChat> {
  const { rows } = await tx.query(
    `SELECT c.status, c.turn, c.model_id, m.model AS model_name
     FROM chats c LEFT JOIN models m ON m.id = c.model_id WHERE c.id = $1 AND c.owner_id = $2 FOR UPDATE OF c`,
    [chatId, ownerId],
  );
  if (!rows[0]) throw notFound('chat');
  return rows[0] as LockedChat;
}

/** The chat and its queue, as `GET /chats/:id` returns them. */
export async function getChatWithQueue(db: Queryable, ownerId: string, chatId: string): Promise<{ chat: Chat; queue: QueuedMessage[] }> {
  const chat = await requireChat(db, ownerId, chatId);
  return { chat, queue: await listQueue(db, chatId) };
}
