// The Temporal worker of a `parley worker` (or `parley dev`) process: its connection, activities,
// sandbox, reconciler and workspace sweep. The API process never loads this module (nor the SDK's
// native core or webpack's bundler plumbing it brings): src/server.ts imports it lazily.
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { deploymentId } from '../db/reconcile.ts';
import { createProviderResolver } from '../providers/resolver.ts';
import { chatWorkflowsOf, startReconciler, type Services } from '../runtime.ts';
import { createSandbox } from '../tools/index.ts';
import { bundleWorkflowsInChild } from './bundle-workflows.ts';
import { InterruptRegistry } from './interrupts.ts';
import { adoptLegacyWorkspaces, startWorkspaceSweep } from './workspaces.ts';

export interface ParleyWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Activity slots: the SDK's default of 100 would make the 101st streaming chat wait for another's reply. */
  maxActivities: number;
  deps: ActivityDeps;
  /** Unset: bundled at start, in a child process. */
  workflowBundle?: WorkflowBundleOption;
  /** How long running steps may finish after SIGTERM before they are failed (and retried elsewhere). */
  shutdownGraceMs: number;
  /** Tests wrap activities to provoke races deterministically. */
  wrapActivities?: (activities: ReturnType<typeof createActivities>) => ReturnType<typeof createActivities>;
}

export async function createParleyWorker(opts: ParleyWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflowsInChild()),
    activities: (opts.wrapActivities ?? ((a) => a))(createActivities(opts.deps)),
    shutdownGraceTime: opts.shutdownGraceMs,
    maxConcurrentActivityTaskExecutions: opts.maxActivities,
  });
}

let runtimeInstalled = false;
/**
 * The SDK's process-wide runtime, logging at Parley's level (it can only be set up once). The SDK's
 * INFO lines are routine (a worker's state changes at every start and Ctrl-C), so Parley's `info`
 * shows its warnings and errors; `debug` shows everything.
 */
function installTemporalRuntime(level: string): void {
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
  installTemporalRuntime(config.logLevel);
  const connection = await NativeConnection.connect({ address: config.temporalAddress! });
  const interrupts = new InterruptRegistry(services.databaseUrl);
  await interrupts.start();
  const deployment = await deploymentId(services.pool);
  const log = (line: string): void => { if (config.logLevel !== 'silent') console.log(line); };
  const moved = await adoptLegacyWorkspaces(config.dataDir, config.workspacesDir);
  if (moved !== undefined) log(moved);
  const sandbox = createSandbox(config.sandbox);
  log(await sandbox.describe());
  // The reconciler's and the sub-agent tools' way to wake, interrupt and cancel chats.
  const workflows = chatWorkflowsOf(connection, config, deployment);
  const worker = await createParleyWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    maxActivities: config.workerMaxActivities,
    deps: { config, pool: services.pool, events: services.events, interrupts, providerFor: createProviderResolver(services.config), deploymentId: deployment, sandbox, workflows },
    shutdownGraceMs: config.shutdownGraceMs,
    ...(config.workflowBundlePath ? { workflowBundle: { codePath: config.workflowBundlePath } } : {}),
    ...opts,
  });
  const reconciler = startReconciler(services, workflows);
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
