import type { ChatEvent } from '../shared/types.ts';
import { CHAT_CHANGES_CHANNEL, EVENTS_CHANNEL } from './channels.ts';
import { changeOwner, parseChatChange, type ChatChangeNotice } from './chat-changes.ts';
import { decodeNotification, lastIdOf, type EventNotification } from './notification.ts';
import { createPgListener } from './pg-listener.ts';
import type { EventHub, EventLog } from './event-log.ts';

export interface PgEventHubOptions {
  /** Reconnect backoff of the LISTEN connection (doubling, with jitter). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Lost connections, failed log reads, throwing subscribers: nothing here may crash the process. */
  onError?: (err: unknown) => void;
  /** How many chats' latest announced ids to remember (see `seen`). */
  rememberChats?: number;
}

type Listener = (event: ChatEvent) => void;

interface ChatState {
  subs: Set<Listener>;
  /** Id of the last event dispatched (null: none yet, the first notification sets it). */
  lastId: number | null;
  /** For a chat subscribed before any of its ids were known: where to read from after a reconnect. */
  floor: { id: number; epoch: number } | null;
  /** Serialises this chat's deliveries (log reads are async; order must hold). */
  chain: Promise<void>;
}

const PAGE = 500;

/**
 * Fans out `parley_events` notifications to this process's subscribers over ONE dedicated connection.
 * Per chat it dispatches in id order with no gaps or duplicates: whatever a notification does not carry
 * (a range payload, ids missed while disconnected) is read from the log first.
 */
export function createPgEventHub(databaseUrl: string, log: EventLog, options: PgEventHubOptions = {}): EventHub {
  const minDelay = options.reconnectMinMs ?? 100;
  const maxDelay = options.reconnectMaxMs ?? 5_000;
  const rememberChats = options.rememberChats ?? 10_000;
  const report = (err: unknown) => {
    try {
      options.onError?.(err);
    } catch { /* a broken reporter must not break delivery */ }
  };

  const chats = new Map<string, ChatState>();
  // Chat-list watchers by user. Nothing to replay: the list is state, so after a reconnect they are
  // told to reload it (`resync`) instead.
  const users = new Map<string, Set<(notice: ChatChangeNotice) => void>>();
  // Latest id announced per chat, subscribed or not (LRU). Every such id was committed before any later
  // subscribe, so it is a safe starting point for a new subscription: lower than or equal to the chat's
  // last id at that moment, whatever was missed while disconnected.
  const seen = new Map<string, number>();
  // The LISTEN connection's number, bumped before its LISTENs: a floor read that resolved under an
  // older epoch predates the current LISTEN.
  let epoch = 0;
  let started = false;
  let stopped = false;

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const active = (state: ChatState, chatId: string) => !stopped && chats.get(chatId) === state;

  function remember(chatId: string, id: number): void {
    const prev = seen.get(chatId);
    if (prev !== undefined && prev >= id) return;
    seen.delete(chatId);
    seen.set(chatId, id);
    if (seen.size > rememberChats) seen.delete(seen.keys().next().value!);
  }

  function dispatch(state: ChatState, event: ChatEvent): void {
    if (state.lastId !== null && event.id <= state.lastId) return;
    state.lastId = event.id;
    for (const listener of [...state.subs]) {
      try {
        listener(event);
      } catch (err) {
        report(err);
      }
    }
  }

  function enqueue(chatId: string, state: ChatState, task: () => Promise<void>): void {
    state.chain = state.chain.then(() => (active(state, chatId) ? task() : undefined)).catch(report);
  }

  /** Reads the log after what was dispatched, up to at least `upTo`, retrying while someone listens. */
  async function catchUp(chatId: string, state: ChatState, from: number, upTo: number): Promise<void> {
    let after = from;
    for (let attempt = 0; after < upTo; ) {
      // Read no further than announced: a subscriber gets the events as they come, not in bursts.
      const limit = Math.min(PAGE, upTo - after);
      let page: ChatEvent[];
      try {
        page = await log.readAfter(chatId, after, limit);
      } catch (err) {
        report(err);
        if (!active(state, chatId)) return;
        await sleep(Math.min(maxDelay, minDelay * 2 ** attempt++));
        continue;
      }
      for (const event of page) dispatch(state, event);
      const last = page.at(-1);
      if (!last || page.length < limit || last.id >= upTo || !active(state, chatId)) return;
      after = last.id;
      attempt = 0;
    }
  }

  async function deliver(chatId: string, state: ChatState, note: EventNotification): Promise<void> {
    if ('e' in note) {
      const first = note.e[0]!.id;
      if (state.lastId !== null && first > state.lastId + 1) await catchUp(chatId, state, state.lastId, first - 1);
      for (const e of note.e) dispatch(state, { ...e, chatId } as ChatEvent);
    } else {
      await catchUp(chatId, state, state.lastId ?? note.from - 1, note.to);
    }
  }

  function notifyUser(listeners: Iterable<(notice: ChatChangeNotice) => void>, notice: ChatChangeNotice): void {
    for (const listener of [...listeners]) {
      try {
        listener(notice);
      } catch (err) {
        report(err);
      }
    }
  }

  function onChatChange(payload: string): void {
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch {
      return;
    }
    const listeners = users.get(changeOwner(value) ?? '');
    const changes = listeners && parseChatChange(value);
    if (listeners && changes?.length) notifyUser(listeners, { changes });
  }

  function onNotification(channel: string, payload: string | undefined): void {
    if (channel === CHAT_CHANGES_CHANNEL && payload) return onChatChange(payload);
    if (channel !== EVENTS_CHANNEL || !payload) return;
    const note = decodeNotification(payload);
    if (!note) return;
    remember(note.c, lastIdOf(note));
    const state = chats.get(note.c);
    if (state) enqueue(note.c, state, () => deliver(note.c, state, note));
  }

  /** After (re)connecting: whatever committed while no LISTEN was active is only in the log. */
  function resyncAll(currentEpoch: number): void {
    for (const [chatId, state] of chats) {
      enqueue(chatId, state, async () => {
        // A floor read before this LISTEN was issued is safe; otherwise start from the beginning.
        const floor = state.floor && state.floor.epoch < currentEpoch ? state.floor.id : 0;
        await catchUp(chatId, state, state.lastId ?? floor, Infinity);
      });
    }
  }

  // Chat-list changes first: the connection's last query stays `LISTEN parley_events`, which is how
  // it is found in pg_stat_activity.
  const connection = createPgListener(databaseUrl, {
    channels: [CHAT_CHANGES_CHANNEL, EVENTS_CHANNEL],
    onNotification,
    onConnect: (n) => { epoch = n; },
    onReconnected: () => {
      resyncAll(epoch);
      for (const listeners of users.values()) notifyUser(listeners, { resync: true });
    },
    onError: report,
    reconnectMinMs: minDelay,
    reconnectMaxMs: maxDelay,
  });

  return {
    async start() {
      if (started) return;
      await connection.start();
      started = true;
      resyncAll(epoch);
    },

    async stop() {
      stopped = true;
      await connection.stop();
    },

    subscribe(chatId, onEvent) {
      let state = chats.get(chatId);
      if (!state) {
        const known = seen.get(chatId);
        const fresh: ChatState = { subs: new Set(), lastId: known ?? null, floor: null, chain: Promise.resolve() };
        state = fresh;
        chats.set(chatId, fresh);
        if (known === undefined) {
          const at = epoch;
          log.lastEventId(chatId).then((id) => {
            if (epoch === at && connection.live) fresh.floor = { id, epoch: at };
          }, report);
        }
      }
      const listener: Listener = (event) => onEvent(event);
      state.subs.add(listener);
      const subscribed = state;
      return () => {
        subscribed.subs.delete(listener);
        if (subscribed.subs.size === 0 && chats.get(chatId) === subscribed) {
          chats.delete(chatId);
          if (subscribed.lastId !== null) remember(chatId, subscribed.lastId);
        }
      };
    },

    subscribeUser(userId, onChange: (notice: ChatChangeNotice) => void) {
      let listeners = users.get(userId);
      if (!listeners) {
        listeners = new Set();
        users.set(userId, listeners);
      }
      // A wrapper per call, so the same function subscribed twice unsubscribes once per call.
      const listener = (notice: ChatChangeNotice) => onChange(notice);
      listeners.add(listener);
      const subscribed = listeners;
      return () => {
        subscribed.delete(listener);
        if (subscribed.size === 0 && users.get(userId) === subscribed) users.delete(userId);
      };
    },
  };
}
