// Queries behind the worker's workspace sweep (src/worker/workspace-sweep.ts).
import type { Queryable } from './rows.ts';

/** Which of `ids` (chat ids, uuids) still name a chat. */
export async function existingChatIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query('SELECT id FROM chats WHERE id = ANY($1::uuid[])', [ids]);
  return new Set(rows.map((r) => r.id as string));
}
