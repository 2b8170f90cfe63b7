// When is "our" turn over? The stream carries the whole chat: earlier turns' settling, other
// clients' messages, the status snapshot every connection starts with. The turn counts as started
// once our message shows up in the log, and as over at the first logged idle status after that.
import type { ChatStatus, ErrorInfo } from '../shared/types.ts';
import type { ChatStreamEvent } from './events.ts';
import type { Renderer } from './render.ts';

export interface Settled { status: Extract<ChatStatus, 'waiting' | 'error'>; lastError: ErrorInfo | null }

/** Ours: the user message the API stored, or the queued message it will become. */
export type OurMessage = { messageId: string } | { queuedId: string };

export class TurnTracker {
  private readonly ours: OurMessage;
  private seenQueued = false;
  started = false;

  constructor(ours: OurMessage) {
    this.ours = ours;
  }

  /** The outcome once this event settles our turn, else null. */
  observe(event: ChatStreamEvent): Settled | null {
    switch (event.type) {
      case 'message':
        if ('messageId' in this.ours && event.data.role === 'user' && event.data.id === this.ours.messageId) this.started = true;
        return null;
      case 'queue_update':
        // A queued message leaves the queue when its turn begins (as a new user message with its own
        // id). Updates from before it was queued say nothing about it.
        if ('queuedId' in this.ours && !this.started) {
          const { queuedId } = this.ours;
          const queued = event.data.queue.some((q) => q.id === queuedId);
          if (queued) this.seenQueued = true;
          else if (this.seenQueued) this.started = true;
        }
        return null;
      case 'status': {
        // The id-less snapshot may already describe a later state than the replay has reached.
        if (event.id === null || !this.started) return null;
        const { status } = event.data;
        if (status === 'waiting' || status === 'error') return { status, lastError: event.data.lastError ?? null };
        return null;
      }
      default:
        return null;
    }
  }
}

export interface FollowHooks {
  /** Called after each event is rendered and tracked (e.g. to re-send an interrupt once a turn runs). */
  onEvent?(event: ChatStreamEvent): void;
}

/** Renders the stream until our turn settles; null if the stream ended first (it was closed). */
export async function followTurn(
  events: AsyncIterable<ChatStreamEvent>, renderer: Renderer, tracker: TurnTracker, hooks: FollowHooks = {},
): Promise<Settled | null> {
  let errorShown = false;
  for await (const event of events) {
    renderer.handle(event);
    if (event.type === 'error' && tracker.started) errorShown = true;
    const settled = tracker.observe(event);
    hooks.onEvent?.(event);
    if (settled) {
      // An error status whose error event was not in the stream still deserves its message.
      if (settled.status === 'error' && !errorShown && settled.lastError) renderer.error(settled.lastError);
      renderer.finish();
      return settled;
    }
  }
  renderer.finish();
  return null;
}
