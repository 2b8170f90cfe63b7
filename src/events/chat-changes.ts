// Chat-list changes, as the `parley_chat_changes` trigger (migrations/1764000000002_watch.sql)
// announces them and GET /chats/watch sends them.
import type { ChatStatus } from '../shared/types.ts';

export type ChatChangeKind = 'created' | 'title' | 'archived' | 'status' | 'deleted';

/** The chat as a list shows it; for `deleted`, as it was. */
export interface ChatSummary {
  id: string;
  title: string;
  status: ChatStatus;
  archived: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ChatChange { change: ChatChangeKind; chat: ChatSummary }

/**
 * What the hub hands a user's subscribers: one trigger notification (an update that changed several
 * fields carries each), or `resync` after the LISTEN connection was lost and changes may be missed.
 */
export type ChatChangeNotice = { changes: ChatChange[] } | { resync: true };

const KINDS = new Set<string>(['created', 'title', 'archived', 'status', 'deleted']);
const STATUSES = new Set<string>(['pending', 'running', 'requires_action', 'waiting', 'error']);

const iso = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
};

/** Parses a trigger payload (already JSON-decoded); null for anything malformed. */
export function parseChatChange(value: unknown): ChatChange[] | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const createdAt = iso(v.createdAt);
  const updatedAt = iso(v.updatedAt);
  if (typeof v.chatId !== 'string' || typeof v.title !== 'string' || typeof v.status !== 'string' || !STATUSES.has(v.status)
    || typeof v.archived !== 'boolean' || !createdAt || !updatedAt || !Array.isArray(v.changes)) return null;
  const chat: ChatSummary = { id: v.chatId, title: v.title, status: v.status as ChatStatus, archived: v.archived, createdAt, updatedAt };
  return v.changes.filter((c): c is ChatChangeKind => typeof c === 'string' && KINDS.has(c)).map((change) => ({ change, chat }));
}

/** The owner a trigger payload is for (the hub routes by it); null when there is none. */
export function changeOwner(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const userId = (value as Record<string, unknown>).userId;
  return typeof userId === 'string' ? userId : null;
}
