// Wiring shared by Parley's processes: services (pool, event log), the API, the reconciler. The
// worker is started by src/worker/worker.ts. `parley api`, `parley worker`, `parley dev` and the
// integration tests all build their processes through these functions, so tests run the production
// wiring.
import { Client, Connection, type ConnectionLike } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { createReconciler, type Reconciler } from './chats/reconciler.ts';
import { deploymentId } from './db/reconcile.ts';
import { migrate } from './db/migrate.ts';
import { createPool, type Pool } from './db/pool.ts';
import { ensureAdmin } from './db/users.ts';
import { syncEnvProviders } from './db/providers.ts';
import { createPgEventHub } from './events/pg-event-hub.ts';
import { createPgEventLog } from './events/pg-event-log.ts';
import type { EventLog } from './events/event-log.ts';
import { createChatWorkflows, type ChatWorkflows } from './temporal/chat-workflows.ts';

export interface Services {
  config: Config;
  databaseUrl: string;
  pool: Pool;
  events: EventLog;
  close(): Promise<void>;
}

export function openServices(config: Config & { databaseUrl: string }): Services {
  const pool = createPool(config.databaseUrl, 20);
  return {
    config,
    databaseUrl: config.databaseUrl,
    pool,
    events: createPgEventLog(pool),
    close: () => pool.end(),
  };
}

/** Chats the reconciler looks at per pass (each one at most a describe and a signal-with-start). */
const RECONCILE_BATCH = 200;

/**
 * The reconciler of this process: every API and worker process runs one, and an advisory lock lets
 * one pass run at a time across all of them.
 */
export function startReconciler(services: Services, workflows: ChatWorkflows): Reconciler {
  const { config } = services;
  let lastError = '';
  const reconciler = createReconciler({
    pool: services.pool,
    workflows,
    intervalMs: config.reconcileIntervalMs,
    batchSize: RECONCILE_BATCH,
    // Said once per distinct failure, not every few seconds while Temporal stays down.
    onError: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastError && config.logLevel !== 'silent') console.error(`reconciler: ${message} (retrying every ${config.reconcileIntervalMs} ms)`);
      lastError = message;
    },
    onWake: () => { lastError = ''; },
  });
  reconciler.start();
  return reconciler;
}

export function chatWorkflowsOf(connection: ConnectionLike, config: Config, deployment: string): ChatWorkflows {
  return createChatWorkflows(new Client({ connection, namespace: config.temporalNamespace }), config.taskQueue, deployment);
}

export interface RunningApi {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startApi(services: Services, opts: { port?: number; host?: string } = {}): Promise<RunningApi> {
  const { config } = services;
  const connection = await Connection.connect({ address: config.temporalAddress! });
  const workflows = chatWorkflowsOf(connection, config, await deploymentId(services.pool));
  const hub = createPgEventHub(services.databaseUrl, services.events, {
    // Lost LISTEN connections are repaired by the hub; still, an operator should see them.
    onError: (err) => { if (config.logLevel !== 'silent') console.error('event hub:', err); },
  });
  await hub.start();
  const { buildApi } = await import('./api/app.ts');
  const app = await buildApi({
    config,
    pool: services.pool,
    events: services.events,
    hub,
    workflows,
    temporalHealth: async () => { await connection.healthService.check({}); },
  }, {
    rateLimit: config.rateLimitPerMinute > 0 ? { max: config.rateLimitPerMinute, timeWindowMs: 60_000 } : false,
  });
  const address = await app.listen({ port: opts.port ?? config.port, host: opts.host ?? config.host });
  const reconciler = startReconciler(services, workflows);
  return {
    app,
    url: address.replace('0.0.0.0', '127.0.0.1'),
    close: async () => {
      await reconciler.stop();
      await app.close();
      await hub.stop();
      await connection.close();
    },
  };
}

/** Schema migrations, env-configured providers and the admin user: what every start needs. */
export async function prepareDatabase(services: Services): Promise<void> {
  const { config, pool } = services;
  await migrate(services.databaseUrl);
  await syncEnvProviders(pool, config);
  if (config.adminToken) await ensureAdmin(pool, config.adminToken);
}
