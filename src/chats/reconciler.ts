// The reconciler: the repair path behind "no chat is ever stuck". PostgreSQL says which chats have
// work (a turn pending or running, queued messages, a compaction requested); Temporal says which
// chat workflows run. A chat with work and no running workflow was left behind (Temporal was down
// when its request tried to start it, a run was terminated, a wake was lost): wake it. Waking is
// signal-with-start, so waking a chat that another process just woke is harmless.
import { deleteExpiredIdempotencyKeys, findChatsNeedingWork, FIRST_CHAT_ID, withReconcileLock } from '../db/reconcile.ts';
import type { Pool } from '../db/pool.ts';
import type { ChatWorkflows } from '../temporal/chat-workflows.ts';
import { IDEMPOTENCY_KEY_TTL_MS } from './idempotency.ts';

export interface ReconcilerOptions {
  pool: Pool;
  workflows: Pick<ChatWorkflows, 'wake' | 'isRunning'>;
  /** Between passes; the first pass runs at start. */
  intervalMs: number;
  /** Chats looked at per pass: bounds the Temporal calls one pass makes. */
  batchSize: number;
  /** Chats changed more recently than this are left to the request that changed them. */
  graceMs?: number;
  onError?: (err: unknown) => void;
  onWake?: (chatId: string) => void;
}

export interface PassResult {
  /** False when another process held the lock, so this one did nothing. */
  ran: boolean;
  checked: number;
  woken: string[];
}

export interface Reconciler {
  /** Runs a first pass now (a restart repairs what the last process left behind), then every intervalMs. */
  start(): void;
  /** One pass now (also what the timer runs); passes never overlap within a process. */
  runPass(): Promise<PassResult>;
  stop(): Promise<void>;
}

export const DEFAULT_GRACE_MS = 2_000;

export function createReconciler(opts: ReconcilerOptions): Reconciler {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  // Passes go round the table in id order, `batchSize` chats at a time, so a large number of chats
  // busy for good reason can't hide a stuck one behind them.
  let cursor = FIRST_CHAT_ID;
  let current: Promise<PassResult> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const pass = async (): Promise<PassResult> => {
    const result = await withReconcileLock(opts.pool, async () => {
      const chats = await findChatsNeedingWork(opts.pool, cursor, opts.batchSize, graceMs);
      cursor = chats.length < opts.batchSize ? FIRST_CHAT_ID : chats.at(-1)!.id;
      const woken: string[] = [];
      for (const chat of chats) {
        // A 'running' chat with a running workflow is being served. Any other status means the
        // workflow has not picked the work up yet: a wake tells a running one to look (and is one
        // signal), or starts one.
        if (chat.status === 'running' && await opts.workflows.isRunning(chat.id)) continue;
        await opts.workflows.wake({ id: chat.id, ownerId: chat.ownerId, model: chat.model });
        woken.push(chat.id);
        opts.onWake?.(chat.id);
      }
      await deleteExpiredIdempotencyKeys(opts.pool, IDEMPOTENCY_KEY_TTL_MS, 1_000);
      return { ran: true, checked: chats.length, woken };
    });
    return result ?? { ran: false, checked: 0, woken: [] };
  };

  const runPass = (): Promise<PassResult> => {
    current ??= pass().finally(() => { current = undefined; });
    return current;
  };

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(tick, opts.intervalMs);
    timer.unref();
  }
  function tick(): void {
    // Temporal or PostgreSQL down: the pass stops at the first failure and the next one retries.
    runPass().catch((err: unknown) => opts.onError?.(err)).finally(schedule);
  }

  return {
    start: tick,
    runPass,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current?.catch(() => {});
    },
  };
}
