import pg from 'pg';
import { CHAT_CHANGES_CHANNEL, changeOwner, parseChatChange, type ChatChangeNotice } from '../db/watch.ts';
import type { ChatEvent } from '../shared/types.ts';
import { decodeNotification, EVENTS_CHANNEL, lastIdOf, type EventNotification } from './notification.ts';
import type { EventHub, EventLog } from './types.ts';

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
  let client: pg.Client | null = null;
  // Bumped before each LISTEN: a floor read that resolved under an older epoch predates the current LISTEN.
  let epoch = 0;
  let started = false;
  let stopped = false;
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;

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

  function onNotification(msg: pg.Notification): void {
    if (msg.channel === CHAT_CHANGES_CHANNEL && msg.payload) return onChatChange(msg.payload);
    if (msg.channel !== EVENTS_CHANNEL || !msg.payload) return;
    const note = decodeNotification(msg.payload);
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

  async function openListener(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: databaseUrl, keepAlive: true });
    let live = false;
    let gone = false;
    const drop = (err?: unknown) => {
      if (gone) return;
      gone = true;
      c.end().catch(() => {});
      if (live) onConnectionLost(c, err);
    };
    c.on('error', drop);
    c.on('end', () => drop(new Error('event hub: LISTEN connection ended')));
    c.on('notification', onNotification);
    try {
      await c.connect();
      epoch++;
      // Chat-list changes first: the connection's last query stays `LISTEN parley_events`, which is
      // how it is found in pg_stat_activity.
      await c.query(`LISTEN ${CHAT_CHANGES_CHANNEL}`);
      await c.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      drop();
      throw err;
    }
    if (gone) throw new Error('event hub: LISTEN connection lost while starting');
    live = true;
    return c;
  }

  function onConnectionLost(c: pg.Client, err: unknown): void {
    if (client !== c) return;
    client = null;
    report(err);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (stopped || reconnectTimer) return;
    const base = Math.min(maxDelay, minDelay * 2 ** failures++);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      openListener().then((c) => {
        if (stopped) {
          c.end().catch(() => {});
          return;
        }
        client = c;
        failures = 0;
        resyncAll(epoch);
        for (const listeners of users.values()) notifyUser(listeners, { resync: true });
      }, (err: unknown) => {
        report(err);
        scheduleReconnect();
      });
    }, base / 2 + Math.random() * base / 2);
  }

  return {
    async start() {
      if (started) return;
      started = true;
      try {
        client = await openListener();
      } catch (err) {
        started = false;
        throw err;
      }
      resyncAll(epoch);
    },

    async stop() {
      stopped = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = null;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
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
            if (epoch === at && client) fresh.floor = { id, epoch: at };
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
