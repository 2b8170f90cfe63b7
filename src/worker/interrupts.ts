import pg from 'pg';

export const INTERRUPT_CHANNEL = 'parley_interrupts';

/**
 * The fast path of an interrupt. Temporal cancels a running activity only when the activity next
 * heartbeats (throttled to seconds); the workflow therefore also NOTIFYs every worker, and the one
 * running the chat's turn aborts its provider stream or tool process at once.
 */
export class InterruptRegistry {
  private readonly running = new Map<string, Set<AbortController>>();
  private client: pg.Client | undefined;
  private stopped = false;
  private started = false;
  private readonly databaseUrl: string;

  constructor(databaseUrl: string) {
    this.databaseUrl = databaseUrl;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', (msg) => {
      if (msg.channel === INTERRUPT_CHANNEL && msg.payload) this.abortLocal(msg.payload);
    });
    let lost = false;
    // Once per client: drop it and, after start() succeeded, try again until a connection works.
    // While disconnected, interrupts still arrive through Temporal's heartbeat path, only later.
    const lose = (): void => {
      if (lost) return;
      lost = true;
      client.end().catch(() => {});
      if (this.client === client) this.client = undefined;
      if (!this.started || this.stopped) return;
      setTimeout(() => { if (!this.stopped) this.connect().catch(() => {}); }, 500).unref();
    };
    client.on('error', lose);
    client.on('end', lose);
    try {
      await client.connect();
      await client.query(`LISTEN ${INTERRUPT_CHANNEL}`);
    } catch (err) {
      lose();
      throw err; // start() reports it; a reconnect attempt has scheduled the next one
    }
    this.client = client;
    this.started = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }

  /** Registers a running step of (chat, turn); call the returned function when the step ends. */
  register(chatId: string, turn: number): { signal: AbortSignal; release: () => void } {
    const key = keyOf(chatId, turn);
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

export const keyOf = (chatId: string, turn: number): string => `${chatId}:${turn}`;

/** Sent by the workflow's local activity; delivered to every worker's registry on commit. */
export async function notifyInterrupt(pool: pg.Pool, chatId: string, turn: number): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [INTERRUPT_CHANNEL, keyOf(chatId, turn)]);
}
