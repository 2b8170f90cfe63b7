// The reconciler's pass against chats in every state (issue 13), with a recording stand-in for
// Temporal: which chats it wakes, which it leaves alone, how it goes round a table larger than one
// pass, and two processes passing at once.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createReconciler } from '../../src/chats/reconciler.ts';
import { createPool } from '../../src/db/pool.ts';
import { createTestDatabase, seedChat, seedUser, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let owner: string;
beforeAll(async () => {
  db = await createTestDatabase();
  owner = await seedUser(db.pool);
});
afterAll(async () => { await db.drop(); });

/** A Temporal stand-in: `running` says whose workflow runs; every wake is recorded. */
function temporal(running: Set<string> = new Set()) {
  const woken: string[] = [];
  return {
    woken,
    workflows: {
      wake: async ({ id }: { id: string }) => { woken.push(id); },
      isRunning: async (id: string) => running.has(id),
    },
  };
}

const age = (id: string, seconds: number) =>
  db.pool.query(`UPDATE chats SET updated_at = now() - make_interval(secs => $2) WHERE id = $1`, [id, seconds]);

async function chat(status: 'pending' | 'running' | 'waiting' | 'error', opts: { queued?: boolean; compact?: boolean; fresh?: boolean } = {}) {
  const id = await seedChat(db.pool, owner, status);
  if (opts.queued) await db.pool.query('INSERT INTO queued_messages (id, chat_id, content, position) VALUES ($1, $2, $3, 1)', [randomUUID(), id, 'later']);
  if (opts.compact) await db.pool.query('UPDATE chats SET compact_requested = true WHERE id = $1', [id]);
  if (!opts.fresh) await age(id, 60);
  return id;
}

test('a pass wakes exactly the chats whose work no workflow is doing', async () => {
  await db.pool.query('DELETE FROM chats');
  const c = {
    pending: await chat('pending'),
    runningServed: await chat('running'),
    runningOrphan: await chat('running'),
    waiting: await chat('waiting'),
    error: await chat('error'),
    waitingQueued: await chat('waiting', { queued: true }),
    errorQueued: await chat('error', { queued: true }),
    compactRequested: await chat('waiting', { compact: true }),
    pendingJustNow: await chat('pending', { fresh: true }),
  };
  const t = temporal(new Set([c.runningServed]));
  const reconciler = createReconciler({ pool: db.pool, workflows: t.workflows, intervalMs: 3_600_000, batchSize: 100 });
  const pass = await reconciler.runPass();
  expect(pass.ran).toBe(true);
  expect(new Set(t.woken)).toEqual(new Set([c.pending, c.runningOrphan, c.waitingQueued, c.errorQueued, c.compactRequested]));
  expect(t.woken).toHaveLength(5); // each once
  // Within the grace period a chat is left to the request that touched it; after it, it is woken.
  await age(c.pendingJustNow, 60);
  expect((await reconciler.runPass()).woken).toContain(c.pendingJustNow);
});

test('passes go round a table larger than one batch, so busy chats cannot hide a stuck one', async () => {
  await db.pool.query('DELETE FROM chats');
  const served = new Set<string>();
  for (let i = 0; i < 7; i++) served.add(await chat('running'));
  const stuck = await chat('pending');
  const t = temporal(served);
  const reconciler = createReconciler({ pool: db.pool, workflows: t.workflows, intervalMs: 3_600_000, batchSize: 3 });
  for (let i = 0; i < 3 && !t.woken.includes(stuck); i++) {
    const pass = await reconciler.runPass();
    expect(pass.checked).toBeLessThanOrEqual(3);
  }
  expect(t.woken).toEqual([stuck]);
});

test('two processes passing at once: one pass runs, every chat is woken once', async () => {
  await db.pool.query('DELETE FROM chats');
  const ids = [await chat('pending'), await chat('pending'), await chat('waiting', { queued: true })];
  const poolA = createPool(db.url);
  const poolB = createPool(db.url);
  try {
    const a = temporal();
    const b = temporal();
    // The stand-ins wait a little on every wake, so the two passes surely overlap.
    const slow = (t: ReturnType<typeof temporal>) => ({ ...t.workflows, wake: async (x: { id: string }) => { await new Promise((r) => setTimeout(r, 50)); await t.workflows.wake(x); } });
    const [ra, rb] = await Promise.all([
      createReconciler({ pool: poolA, workflows: slow(a), intervalMs: 3_600_000, batchSize: 100 }).runPass(),
      createReconciler({ pool: poolB, workflows: slow(b), intervalMs: 3_600_000, batchSize: 100 }).runPass(),
    ]);
    expect([ra.ran, rb.ran].filter(Boolean)).toHaveLength(1);
    expect([...a.woken, ...b.woken].sort()).toEqual([...ids].sort());
  } finally {
    await poolA.end();
    await poolB.end();
  }
});
