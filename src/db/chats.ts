// Queries of chats: reading and listing them, and the writes the chat use-cases (src/chats/service.ts)
// make inside their transactions.
import type { EventLog } from '../events/event-log.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import type { ChatStatus, ErrorInfo, QueuedMessage } from '../shared/types.ts';
import type { ToolPolicy } from '../shared/resources.ts';
import { storableText } from './json.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { listQueue } from './queue.ts';
import { isUuid, toChat, type Chat, type ChatRow, type Queryable } from './rows.ts';

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

// A chat's usage includes its sub-agents' (and theirs): what the work it asked for cost.
// A running turn paused for a person shows as requires_action (see migrations/1764000000005_actions.sql).
const CHAT_SELECT = `SELECT c.id, c.title,
    CASE WHEN c.status = 'running' AND c.awaiting_action THEN 'requires_action' ELSE c.status END AS status,
    c.model_id, c.parent_chat_id, c.agent_depth, c.last_error, c.tool_policy, c.archived,
    c.created_at, c.updated_at, c.created_at::text AS created_key,
    u.input_tokens, u.output_tokens, u.cost_micros
  FROM chats c
  CROSS JOIN LATERAL (
    -- float8: a bigint sum can overflow and fail the whole listing (see db/usage.ts).
    SELECT coalesce(sum((m.usage->>'inputTokens')::float8), 0) AS input_tokens,
           coalesce(sum((m.usage->>'outputTokens')::float8), 0) AS output_tokens,
           coalesce(sum(m.cost_micros::float8), 0) AS cost_micros
    FROM messages m WHERE m.chat_id IN (
      WITH RECURSIVE tree(id) AS (
        SELECT c.id UNION ALL SELECT k.id FROM chats k JOIN tree t ON k.parent_chat_id = t.id WHERE k.agent_depth > 0
      ) SELECT id FROM tree)
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

/**
 * The user's chats, newest first: top-level chats (and forks), or with `parentId` the chats made
 * from that one (its sub-agents and forks), or with `all` every chat including sub-agents.
 */
export async function listChats(
  db: Queryable, ownerId: string,
  opts: { archived: boolean; limit: number; cursor?: string | undefined; parentId?: string | undefined; all?: boolean | undefined },
): Promise<{ chats: Chat[]; nextCursor: string | null }> {
  const limit = Math.min(Math.max(opts.limit, 1), MAX_CHAT_PAGE);
  const [afterKey, afterId] = opts.cursor ? decodeCursor(opts.cursor) : [null, null];
  const { rows } = await db.query(
    `${CHAT_SELECT}
     WHERE c.owner_id = $1 AND c.archived = $2
       AND ($3::timestamptz IS NULL OR (c.created_at, c.id) < ($3::timestamptz, $4::uuid))
       AND ($6::uuid IS NULL OR c.parent_chat_id = $6) AND ($6::uuid IS NOT NULL OR $7 OR c.agent_depth = 0)
     ORDER BY c.created_at DESC, c.id DESC LIMIT $5`,
    [ownerId, opts.archived, afterKey, afterId, limit + 1, opts.parentId ?? null, opts.all ?? false],
  );
  const page = rows.slice(0, limit) as Array<ChatRow & { created_key: string }>;
  const last = page.at(-1);
  return {
    chats: page.map(toChat),
    nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : null,
  };
}

export async function updateChat(
  pool: Pool, events: EventLog, ownerId: string, chatId: string,
  patch: { title?: string | undefined; archived?: boolean | undefined; toolPolicy?: ToolPolicy | null | undefined },
): Promise<Chat> {
  return withTransaction(pool, async (tx) => {
    const { rows } = isUuid(chatId)
      ? await tx.query('SELECT title FROM chats WHERE id = $1 AND owner_id = $2 FOR UPDATE', [chatId, ownerId])
      : { rows: [] };
    if (!rows[0]) throw notFound('chat');
    const title = patch.title === undefined ? undefined : storableText(patch.title.trim());
    if (patch.title !== undefined && !title) throw badRequest('title must not be empty');
    await tx.query(
      `UPDATE chats SET title = coalesce($2, title), archived = coalesce($3, archived),
         tool_policy = CASE WHEN $4 THEN $5::jsonb ELSE tool_policy END, updated_at = now() WHERE id = $1`,
      [chatId, title ?? null, patch.archived ?? null, patch.toolPolicy !== undefined, patch.toolPolicy ? JSON.stringify(patch.toolPolicy) : null],
    );
    // Clients watching the chat show its title: tell them when it changes.
    if (title !== undefined && title !== rows[0].title) await events.append(chatId, [{ type: 'title', data: { title } }], tx);
    return requireChat(tx, ownerId, chatId);
  });
}

/** The chat's model name (null without a model), or undefined when the chat no longer exists. */
export async function chatModelName(db: Queryable, chatId: string): Promise<string | null | undefined> {
  const { rows } = await db.query('SELECT m.model FROM chats c LEFT JOIN models m ON m.id = c.model_id WHERE c.id = $1', [chatId]);
  return rows[0] ? (rows[0].model as string | null) : undefined;
}

export interface LockedChat { status: ChatStatus; turn: number; model_id: string | null; model_name: string | null }

/** The chat row, locked for this transaction (the lock advanceChat takes too); 404 when not the owner's. */
export async function lockChat(tx: PoolClient, ownerId: string, chatId: string): Promise<LockedChat> {
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

/** A new chat, its first turn pending. `titleAuto`: no title was given, the workflow generates one. */
export async function insertChat(
  tx: PoolClient, chat: { id: string; ownerId: string; title: string; modelId: string; titleAuto: boolean; toolPolicy: ToolPolicy | null },
): Promise<void> {
  await tx.query(
    `INSERT INTO chats (id, owner_id, title, status, model_id, turn, title_auto, tool_policy) VALUES ($1, $2, $3, 'pending', $4, 1, $5, $6)`,
    [chat.id, chat.ownerId, chat.title, chat.modelId, chat.titleAuto, chat.toolPolicy ? JSON.stringify(chat.toolPolicy) : null],
  );
}

/** An idle chat's next turn is pending (its user message is stored by the caller). */
export async function beginPendingTurn(tx: PoolClient, chatId: string, turn: number): Promise<void> {
  await tx.query(`UPDATE chats SET turn = $2, status = 'pending', last_error = null, updated_at = now() WHERE id = $1`, [chatId, turn]);
}

/** A pending turn that the workflow has not begun is called off: the chat is idle again. */
export async function callOffPendingTurn(tx: PoolClient, chatId: string): Promise<void> {
  await tx.query(`UPDATE chats SET status = 'waiting', updated_at = now() WHERE id = $1`, [chatId]);
}

/** Marks a manual compaction for the workflow to run. */
export async function markCompactionRequested(tx: PoolClient, chatId: string): Promise<void> {
  await tx.query('UPDATE chats SET compact_requested = true, updated_at = now() WHERE id = $1', [chatId]);
}

/** Deletes the owner's chat; false when there was none. */
export async function deleteChatRow(db: Queryable, ownerId: string, chatId: string): Promise<boolean> {
  const res = await db.query('DELETE FROM chats WHERE id = $1 AND owner_id = $2', [chatId, ownerId]);
  return (res.rowCount ?? 0) > 0;
}

/** The chat's title and the parts of its first user message (what a generated title is made from). */
export async function titleAndFirstMessage(db: Queryable, chatId: string): Promise<{ title: string; firstParts: Array<{ type: string; text?: string }> | null } | null> {
  const { rows } = await db.query(
    `SELECT c.title, (SELECT m.parts FROM messages m WHERE m.chat_id = c.id AND m.role = 'user' ORDER BY turn, step, idx LIMIT 1) AS parts
     FROM chats c WHERE c.id = $1`,
    [chatId],
  );
  return rows[0] ? { title: rows[0].title as string, firstParts: rows[0].parts ?? null } : null;
}

/**
 * Sets a generated title, unless the title changed since `from` (the user set one meanwhile), and
 * tells the chat's clients. Returns whether it was set.
 */
export async function replaceGeneratedTitle(pool: Pool, events: EventLog, chatId: string, from: string, title: string): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const upd = await tx.query('UPDATE chats SET title = $2, updated_at = now() WHERE id = $1 AND title = $3', [chatId, title, from]);
    if (upd.rowCount) await events.append(chatId, [{ type: 'title', data: { title } }], tx);
    return (upd.rowCount ?? 0) > 0;
  });
}

/** The chat's status as of its last event id: what a stream starts from (null when not the owner's). */
export async function streamSnapshot(db: Queryable, ownerId: string, chatId: string): Promise<{ status: ChatStatus; last_error: ErrorInfo | null; last_event_id: number } | null> {
  const { rows } = await db.query('SELECT status, last_error, last_event_id FROM chats WHERE id = $1 AND owner_id = $2', [chatId, ownerId]);
  return (rows[0] as { status: ChatStatus; last_error: ErrorInfo | null; last_event_id: number } | undefined) ?? null;
}

/** How many chats are in each status (for metrics). */
export async function chatCountsByStatus(db: Queryable): Promise<Array<{ status: string; n: number }>> {
  const { rows } = await db.query('SELECT status, count(*)::int AS n FROM chats GROUP BY status');
  return rows as Array<{ status: string; n: number }>;
}
