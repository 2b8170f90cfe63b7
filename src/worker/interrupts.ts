import { INTERRUPT_CHANNEL, interruptKey } from '../events/channels.ts';
import { createPgListener, type PgListener } from '../events/pg-listener.ts';

/**
 * The fast path of an interrupt. Temporal cancels a running activity only when the activity next
 * heartbeats (throttled to seconds); the workflow therefore also NOTIFYs every worker, and the one
 * running the chat's turn aborts its provider stream or tool process at once.
 */
export class InterruptRegistry {
  private readonly running = new Map<string, Set<AbortController>>();
  // While it reconnects, interrupts still arrive through Temporal's heartbeat path, only later.
  private readonly listener: PgListener;

  constructor(databaseUrl: string) {
    this.listener = createPgListener(databaseUrl, {
      channels: [INTERRUPT_CHANNEL],
      onNotification: (_channel, payload) => { if (payload) this.abortLocal(payload); },
    });
  }

  async start(): Promise<void> {
    await this.listener.start();
  }

  async stop(): Promise<void> {
    await this.listener.stop();
  }

  /** Registers a running step of (chat, turn); call the returned function when the step ends. */
  register(chatId: string, turn: number): { signal: AbortSignal; release: () => void } {
    const key = interruptKey(chatId, turn);
    const controller = new AbortController();
    let set = this.running.get(key);
    if (!set) this.running.set(key, (set = new Set()));
    set.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        set.delete(controller);
        if (set.size === 0 && this.running.get(key) === set) this.running.delete(key);
      },
    };
  }

  private abortLocal(key: string): void {
    for (const controller of this.running.get(key) ?? []) controller.abort(new InterruptError());
  }
}

export class InterruptError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptError';
  }
}
