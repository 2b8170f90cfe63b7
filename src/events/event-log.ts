import type { PoolClient } from '../db/pool.ts';
import type { ChatEvent, NewChatEvent, StreamPart } from '../shared/types.ts';

/**
 * The per-chat ordered event log every client-visible event goes through. PostgreSQL implements it
 * (table chat_events + LISTEN/NOTIFY); a deployment that outgrows that swaps in Redis Streams or NATS
 * JetStream behind these two interfaces without touching the workflow, activity logic or the API.
 */
export interface EventLog {
  /**
   * Appends events with strictly increasing per-chat ids and publishes them on commit. With `tx`,
   * the append joins that transaction (events become visible exactly when the data they describe does).
   */
  append(chatId: string, events: NewChatEvent[], tx?: PoolClient): Promise<ChatEvent[]>;
  /** Events with id > afterId, oldest first. */
  readAfter(chatId: string, afterId: number, limit?: number): Promise<ChatEvent[]>;
  /** message_part events of messages not stored yet (what a client joining mid-stream needs). */
  inProgressParts(chatId: string): Promise<ChatEvent[]>;
  /** Drops the streaming deltas of a message once the whole message is stored. */
  pruneParts(chatId: string, messageId: string, tx?: PoolClient): Promise<void>;
  /** Id of the chat's latest event (0 when none). */
  lastEventId(chatId: string): Promise<number>;
}

/** Live fan-out of appended events to this process (one LISTEN connection serves all subscribers). */
export interface EventHub {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Calls `onEvent` for every event of `chatId` committed after subscription, in id order. */
  subscribe(chatId: string, onEvent: (event: ChatEvent) => void): () => void;
  /** Chat-list changes of one user (created, status, title, deleted) for the watch stream. */
  subscribeUser?(userId: string, onChange: (change: unknown) => void): () => void;
}

/**
 * Coalesces streaming deltas of one message into ~`coalesceMs` windows before appending,
 * so a fast provider does not cost one INSERT per token.
 */
export interface PartPublisher {
  part(part: StreamPart): void;
  /** Writes whatever is buffered; resolves when it is stored. */
  flush(): Promise<void>;
}
