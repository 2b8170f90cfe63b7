// Wiring of Parley's processes. `parley api`, `parley worker`, `parley dev` and the integration
// tests all build their processes through these functions, so tests run the production wiring.
import { Client, Connection, type ConnectionLike } from '@temporalio/client';
import type * as TemporalWorkerSdk from '@temporalio/worker';
import type { LogLevel, Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { createReconciler, type Reconciler } from './chats/reconciler.ts';
import { deploymentId } from './db/reconcile.ts';
import { createSandbox } from './tools/index.ts';
import { adoptLegacyWorkspaces, startWorkspaceSweep } from './worker/workspaces.ts';
import { migrate } from './db/migrate.ts';
import { createPool, type Pool } from './db/pool.ts';
import { ensureAdmin } from './db/users.ts';
import { syncEnvProviders } from './db/providers.ts';
import { createProviderResolver } from './providers/resolver.ts';
import { createPgEventHub } from './events/pg-event-hub.ts';
import { createPgEventLog } from './events/pg-event-log.ts';
import type { EventLog } from './events/types.ts';
import { createChatWorkflows, type ChatWorkflows } from './temporal/chat-workflows.ts';
import { InterruptRegistry } from './worker/interrupts.ts';
import type { ParleyWorkerOptions } from './worker/worker.ts';

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
function startReconciler(services: Services, workflows: ChatWorkflows): Reconciler {
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

function chatWorkflowsOf(connection: ConnectionLike, config: Config, deployment: string): ChatWorkflows {
  return createChatWorkflows(new Client({ connection, namespace: config.temporalNamespace }), config.taskQueue, deployment);
}

let runtimeInstalled = false;
/**
 * The SDK's process-wide runtime, logging at Parley's level (it can only be set up once). The SDK's
 * INFO lines are routine (a worker's state changes at every start and Ctrl-C), so Parley's `info`
 * shows its warnings and errors; `debug` shows everything.
 */
function installTemporalRuntime(level: string, { Runtime, DefaultLogger }: typeof TemporalWorkerSdk): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const levels: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'WARN', warn: 'WARN', error: 'ERROR' };
  const logLevel = levels[level] ?? 'ERROR';
  try {
    // shutdownSignals: []: the CLI owns SIGTERM/SIGINT and shuts workers down in order.
    Runtime.install({ shutdownSignals: [], logger: new DefaultLogger(logLevel), telemetryOptions: { logging: { filter: { core: logLevel === 'TRACE' ? 'TRACE' : logLevel, other: 'ERROR' } } } });
  } catch {
    // Already instantiated by an earlier connection in this process: keep its logger.
  }
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker stopped (after shutdown()). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorker(
  services: Services,
  opts: Pick<ParleyWorkerOptions, 'workflowBundle' | 'wrapActivities'> = {},
): Promise<RunningWorker> {
  const { config } = services;
  // Loaded here, not at the top: the API process needs neither the SDK's native core nor webpack's
  // bundler plumbing, and the worker needs no fastify.
  const sdk = await import('@temporalio/worker');
  const { createParleyWorker } = await import('./worker/worker.ts');
  installTemporalRuntime(config.logLevel, sdk);
  const connection = await sdk.NativeConnection.connect({ address: config.temporalAddress! });
  const interrupts = new InterruptRegistry(services.databaseUrl);
  await interrupts.start();
  const deployment = await deploymentId(services.pool);
  const log = (line: string): void => { if (config.logLevel !== 'silent') console.log(line); };
  const moved = await adoptLegacyWorkspaces(config.dataDir, config.workspacesDir);
  if (moved !== undefined) log(moved);
  const sandbox = createSandbox(config.sandbox);
  log(await sandbox.describe());
  const worker = await createParleyWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    maxActivities: config.workerMaxActivities,
    deps: { config, pool: services.pool, events: services.events, interrupts, providerFor: createProviderResolver(services.config), deploymentId: deployment, sandbox },
    shutdownGraceMs: config.shutdownGraceMs,
    ...(config.workflowBundlePath ? { workflowBundle: { codePath: config.workflowBundlePath } } : {}),
    ...opts,
  });
  const reconciler = startReconciler(services, chatWorkflowsOf(connection, config, deployment));
  const sweeper = startWorkspaceSweep({
    pool: services.pool, root: config.workspacesDir, deployment, intervalMs: config.workspaceSweepMs,
    log: (line) => { if (config.logLevel !== 'silent') console.error(line); },
  });
  const done = worker.run().finally(async () => {
    await sweeper.stop();
    await reconciler.stop();
    await interrupts.stop();
    await connection.close();
  });
  return {
    worker,
    done,
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
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
