import pg from 'pg';
import { toJsonb } from '../db/json.ts';
import type { ChatEvent, NewChatEvent } from '../shared/types.ts';

/** One chat's events in a batch: the calls for that chat, in call order, as one JSON array of {type, data}. */
export interface ChatRun { chatId: string; count: number; json: string }

/**
 * Writes runs of distinct chats in one statement (one commit) and resolves to the first id given to each
 * run, in the order of `runs`; null for a chat that no longer exists. Rejects when nothing was written.
 */
export type WriteRuns = (runs: ChatRun[]) => Promise<Array<number | null>>;

export interface AppendBatcherOptions {
  /** A batch takes queued calls until this many events... */
  maxEvents?: number;
  /** ...or this much JSON (UTF-16 units, close enough to bytes), whichever comes first; a bigger call goes alone. */
  maxJsonLength?: number;
}

/** The JSON an append sends for `events`: an array of {type, data}, every string storable. */
export const eventsJson = (events: NewChatEvent[]): string => toJsonb(events.map(({ type, data }) => ({ type, data })));

/** `events` as stored from id `first` on. */
export const storedEvents = (chatId: string, events: NewChatEvent[], first: number): ChatEvent[] =>
  events.map((e, i) => ({ ...e, id: first + i, chatId }) as ChatEvent);

interface Call { chatId: string; events: NewChatEvent[]; json: string; resolve(e: ChatEvent[]): void; reject(err: unknown): void }

/**
 * Group commit for appends outside a transaction. Each autocommit statement costs a WAL flush, and
 * streaming chats append every ~20 ms each: at tens of chats the commits, not the rows, are what
 * PostgreSQL spends its CPU on. So: with nothing in flight a call is written at once (no added latency
 * when idle); calls made while a statement is in flight queue up and the next statement writes them all.
 * One statement at a time keeps the queue's order, so calls for one chat get their ids in call order.
 * Measured, 50 chats appending every 20 ms, fsync on: ~2,000 commits/s -> ~300, PostgreSQL CPU 60% -> 20%
 * of a core, append p50 21 -> 3 ms.
 */
export function createAppendBatcher(write: WriteRuns, options: AppendBatcherOptions = {}) {
  const maxEvents = options.maxEvents ?? 500;
  const maxJsonLength = options.maxJsonLength ?? 1_000_000;
  const queue: Call[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    while (queue.length > 0) await writeBatch(take());
    running = false;
  }

  /** The longest prefix of the queue within the limits, at least one call. */
  function take(): Call[] {
    let n = 0;
    let events = 0;
    let length = 0;
    for (const call of queue) {
      events += call.events.length;
      length += call.json.length;
      if (n > 0 && (events > maxEvents || length > maxJsonLength)) break;
      n++;
    }
    return queue.splice(0, n);
  }

  /** Settles every call of `batch`; never rejects. */
  async function writeBatch(batch: Call[]): Promise<void> {
    // Calls for one chat become one run (ids stay consecutive in call order). Chat ids are uuids,
    // which PostgreSQL compares case-insensitively: two spellings of one chat must not be two runs.
    const byChat = new Map<string, Call[]>();
    for (const call of batch) {
      const key = call.chatId.toLowerCase();
      const calls = byChat.get(key);
      if (calls) calls.push(call);
      else byChat.set(key, [call]);
    }
    const groups = [...byChat.values()];
    try {
      const firsts = await write(groups.map(runOf));
      groups.forEach((calls, i) => settle(calls, firsts[i] ?? null));
    } catch (err) {
      // The statement failed as a whole: one bad call (data PostgreSQL rejects, a chat id that is not a
      // uuid) or a deadlock/serialization failure against another writer's locks. Write each call on its
      // own so only a bad call fails. Only for errors PostgreSQL reported: the statement was rolled back.
      // A lost connection may have committed, and writing again would duplicate events.
      if (batch.length === 1 || !(err instanceof pg.DatabaseError)) {
        for (const call of batch) call.reject(err);
        return;
      }
      // Chats in parallel, each chat's calls in order.
      await Promise.all(groups.map(async (calls) => {
        for (const call of calls) {
          try {
            settle([call], (await write([runOf([call])]))[0] ?? null);
          } catch (e) {
            call.reject(e);
          }
        }
      }));
    }
  }

  function runOf(calls: Call[]): ChatRun {
    return {
      chatId: calls[0]!.chatId,
      count: calls.reduce((n, c) => n + c.events.length, 0),
      // Each json is an array without whitespace: concatenating their elements keeps every element's bytes.
      json: calls.length === 1 ? calls[0]!.json : `[${calls.map((c) => c.json.slice(1, -1)).join(',')}]`,
    };
  }

  function settle(calls: Call[], first: number | null): void {
    let id = first ?? 0;
    for (const call of calls) {
      // No first id: the chat was deleted (e.g. a workflow's cleanup racing a DELETE), nothing was written.
      call.resolve(first === null ? [] : storedEvents(call.chatId, call.events, id));
      id += call.events.length;
    }
  }


  return {
    append(chatId: string, events: NewChatEvent[]): Promise<ChatEvent[]> {
      if (events.length === 0) return Promise.resolve([]);
      return new Promise((resolve, reject) => {
        // Serialised now: the caller may reuse its objects once append returns.
        queue.push({ chatId, events, json: eventsJson(events), resolve, reject });
        if (!running) void drain();
      });
    },
  };
}
