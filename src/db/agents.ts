// Queries of sub-agents: child chats a chat's spawn_agent calls created (parent_chat_id set,
// agent_depth >= 1). A fork has a parent too but depth 0: it is a chat of its own, never a sub-agent.
import { uuidFromKey } from '../shared/ids.ts';
import type { ChatStatus, ErrorInfo, MessagePart } from '../shared/types.ts';
import type { PoolClient } from './pool.ts';
import type { Queryable } from './rows.ts';

/**
 * The id of the chat a spawn_agent call creates, derived from the call: a retried call finds the
 * chat it created instead of making a second one.
 */
export function subAgentId(parentChatId: string, toolCallId: string): string {
  return uuidFromKey(`agent/${parentChatId}/${toolCallId}`);
}

export interface SpawningParent {
  ownerId: string;
  modelId: string | null;
  modelName: string | null;
  depth: number;
  /** The workspace the parent works in, which its sub-agents share. */
  workspaceChatId: string;
  /** Its sub-agents with a turn pending or running. */
  running: number;
}

/** The parent chat, locked (so parallel spawns count each other), with what a child inherits. */
export async function lockSpawningParent(tx: PoolClient, chatId: string): Promise<SpawningParent | null> {
  const { rows } = await tx.query(
    `SELECT c.owner_id, c.model_id, m.model AS model_name, c.agent_depth, coalesce(c.workspace_chat_id, c.id) AS workspace_chat_id
     FROM chats c LEFT JOIN models m ON m.id = c.model_id WHERE c.id = $1 FOR UPDATE OF c`,
    [chatId],
  );
  const r = rows[0];
  if (!r) return null;
  // Counted after the lock, in a statement of its own: its snapshot then sees the children a
  // parallel spawn committed while this one waited for the lock.
  const running = await tx.query(
    `SELECT count(*)::int AS n FROM chats WHERE parent_chat_id = $1 AND agent_depth > 0 AND status IN ('pending', 'running')`,
    [chatId],
  );
  return {
    ownerId: r.owner_id, modelId: r.model_id, modelName: r.model_name, depth: r.agent_depth, workspaceChatId: r.workspace_chat_id,
    running: running.rows[0].n,
  };
}

/**
 * A new sub-agent chat, its first turn pending (its first message is stored by the caller). It
 * inherits its parent's tool policy; a parent without one follows its model's, and so does the
 * child, which has the same model.
 */
export async function insertSubAgent(
  tx: PoolClient,
  chat: { id: string; ownerId: string; title: string; titleAuto: boolean; modelId: string | null; parentChatId: string; depth: number; workspaceChatId: string },
): Promise<void> {
  await tx.query(
    `INSERT INTO chats (id, owner_id, title, status, model_id, turn, title_auto, parent_chat_id, agent_depth, workspace_chat_id, tool_policy)
     VALUES ($1, $2, $3, 'pending', $4, 1, $5, $6, $7, $8, (SELECT tool_policy FROM chats WHERE id = $6))`,
    [chat.id, chat.ownerId, chat.title, chat.modelId, chat.titleAuto, chat.parentChatId, chat.depth, chat.workspaceChatId],
  );
}

export interface SubAgent {
  id: string;
  ownerId: string;
  title: string;
  status: ChatStatus;
  turn: number;
  lastError: ErrorInfo | null;
  modelName: string | null;
}

const AGENT_SELECT = `SELECT c.id, c.owner_id, c.title, c.status, c.turn, c.last_error, m.model AS model_name
  FROM chats c LEFT JOIN models m ON m.id = c.model_id`;
const toAgent = (r: Record<string, unknown>): SubAgent => ({
  id: r.id as string, ownerId: r.owner_id as string, title: r.title as string, status: r.status as ChatStatus,
  turn: r.turn as number, lastError: (r.last_error as ErrorInfo | null) ?? null, modelName: (r.model_name as string | null) ?? null,
});

/** The sub-agent `childId` of `parentChatId`, or null when it is not one of its sub-agents. */
export async function findSubAgent(db: Queryable, parentChatId: string, childId: string): Promise<SubAgent | null> {
  const { rows } = await db.query(`${AGENT_SELECT} WHERE c.id = $1 AND c.parent_chat_id = $2 AND c.agent_depth > 0`, [childId, parentChatId]);
  return rows[0] ? toAgent(rows[0]) : null;
}

/** The chat's sub-agents, oldest first. */
export async function listSubAgents(db: Queryable, parentChatId: string): Promise<SubAgent[]> {
  const { rows } = await db.query(`${AGENT_SELECT} WHERE c.parent_chat_id = $1 AND c.agent_depth > 0 ORDER BY c.created_at, c.id`, [parentChatId]);
  return rows.map(toAgent);
}

/** The chat's sub-agents, their sub-agents and so on, deepest first (the order a delete needs). */
export async function subAgentTree(db: Queryable, chatId: string): Promise<SubAgent[]> {
  const { rows } = await db.query(
    `WITH RECURSIVE tree(id, level) AS (
       SELECT id, 1 FROM chats WHERE parent_chat_id = $1 AND agent_depth > 0
       UNION ALL SELECT k.id, t.level + 1 FROM chats k JOIN tree t ON k.parent_chat_id = t.id WHERE k.agent_depth > 0
     )
     ${AGENT_SELECT} JOIN tree t ON t.id = c.id ORDER BY t.level DESC, c.created_at`,
    [chatId],
  );
  return rows.map(toAgent);
}

/** The text of the chat's last assistant message with text in turns up to `maxTurn` ('' when none). */
export async function lastAssistantText(db: Queryable, chatId: string, maxTurn: number): Promise<string> {
  const { rows } = await db.query(
    `SELECT parts FROM messages WHERE chat_id = $1 AND role = 'assistant' AND turn <= $2 AND parts @> '[{"type": "text"}]'
     ORDER BY turn DESC, step DESC, idx DESC LIMIT 1`,
    [chatId, maxTurn],
  );
  const parts = (rows[0]?.parts ?? []) as MessagePart[];
  return parts.filter((p): p is Extract<MessagePart, { type: 'text' }> => p.type === 'text').map((p) => p.text).join('');
}

/** The chat's place among agents: its depth (0: a top-level chat) and the workspace it works in. */
export async function agentPlace(db: Queryable, chatId: string): Promise<{ depth: number; workspaceChatId: string } | null> {
  const { rows } = await db.query('SELECT agent_depth, coalesce(workspace_chat_id, id) AS ws FROM chats WHERE id = $1', [chatId]);
  return rows[0] ? { depth: rows[0].agent_depth, workspaceChatId: rows[0].ws } : null;
}
