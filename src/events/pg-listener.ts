// One way to LISTEN: a dedicated PostgreSQL connection that reconnects by itself (doubling backoff
// with jitter), for every NOTIFY channel Parley uses (src/events/channels.ts). A pooled connection
// can't LISTEN: the pool hands it to other queries and notifications stop.
import pg from 'pg';

export interface PgListenerOptions {
  channels: readonly string[];
  onNotification(channel: string, payload: string | undefined): void;
  /**
   * Called after a connection is up and before its LISTENs, with the connection's number (1 for the
   * first): anything read from here on is not older than what the LISTENs will deliver.
   */
  onConnect?(epoch: number): void;
  /** Called once the LISTENs are in place after a reconnect (not for the first connection). */
  onReconnected?(): void;
  /** A lost connection or a failed reconnect; the listener keeps trying. */
  onError?(err: unknown): void;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

export interface PgListener {
  /** Connects and LISTENs; rejects when the first connection fails (nothing is retried then). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether a connection is listening now. */
  readonly live: boolean;
}

export function createPgListener(databaseUrl: string, opts: PgListenerOptions): PgListener {
  const minDelay = opts.reconnectMinMs ?? 100;
  const maxDelay = opts.reconnectMaxMs ?? 5_000;
  let client: pg.Client | null = null;
  let epoch = 0;
  let started = false;
  let stopped = false;
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;

  const report = (err: unknown): void => {
    try {
      opts.onError?.(err);
    } catch { /* a broken reporter must not stop the listener */ }
  };

  async function open(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: databaseUrl, keepAlive: true });
    let live = false;
    let gone = false;
    const drop = (err?: unknown) => {
      if (gone) return;
      gone = true;
      c.end().catch(() => {});
      if (live) lost(c, err);
    };
    c.on('error', drop);
    c.on('end', () => drop(new Error('LISTEN connection ended')));
    c.on('notification', (msg) => opts.onNotification(msg.channel, msg.payload));
    try {
      await c.connect();
      opts.onConnect?.(++epoch);
      // The last channel's LISTEN stays the connection's query in pg_stat_activity.
      for (const channel of opts.channels) await c.query(`LISTEN ${channel}`);
    } catch (err) {
      drop();
      throw err;
    }
    if (gone) throw new Error('LISTEN connection lost while starting');
    live = true;
    return c;
  }

  function lost(c: pg.Client, err: unknown): void {
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
      open().then((c) => {
        if (stopped) {
          c.end().catch(() => {});
          return;
        }
        client = c;
        failures = 0;
        opts.onReconnected?.();
      }, (err: unknown) => {
        report(err);
        scheduleReconnect();
      });
    }, base / 2 + Math.random() * base / 2);
    reconnectTimer.unref();
  }

  return {
    async start() {
      if (started) return;
      started = true;
      stopped = false;
      try {
        client = await open();
      } catch (err) {
        started = false;
        throw err;
      }
    },
    async stop() {
      stopped = true;
      started = false;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = null;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
    get live() {
      return client !== null;
    },
  };
}
