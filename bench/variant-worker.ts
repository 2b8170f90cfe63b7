// A Parley worker with proposed changes applied from outside src/, so a fix can be measured
// before it is made (`npm run bench -- --worker-variant=prebundled,threads=2`). Same
// activities, same workflow bundle, same wiring as `parley worker` (src/runtime.ts startWorker),
// plus what BENCH_VARIANT asks for:
//   prebundled          load a workflow bundle the bench built (PARLEY_WORKFLOW_BUNDLE, as the Docker
//                       image does) instead of running webpack in a child process at start
//   threads=N           workflowThreadPoolSize (SDK default 1 with reuseV8Context)
//   activity-slots=N    maxConcurrentActivityTaskExecutions (default: PARLEY_WORKER_MAX_ACTIVITIES, as `parley worker`)
//   wft-slots=N         maxConcurrentWorkflowTaskExecutions (SDK default 40)
//   memory-log=FILE     every second, append this process's memoryUsage() and each workflow thread's
//                       V8 heap statistics to FILE (JSON lines): where the worker's RSS goes
//   semi-space=MB       node --max-semi-space-size (V8's young generation; applied by bench/stack.ts)
//   optimize-for-size   node --optimize-for-size (V8 favours memory over speed; applied by bench/stack.ts)
//   heap-growing=N      node --heap-growing-percent=N (old generation grows to (1 + N/100) × live before a
//                       major GC; V8 picks 1.1–4× itself by default; applied by bench/stack.ts)
//   malloc-arenas=N     MALLOC_ARENA_MAX for glibc malloc (applied by bench/stack.ts)
//   alloc-profile=FILE  sample the main thread's allocations (V8's sampling heap profiler, objects already
//                       collected included), written to FILE as a .heapprofile at shutdown: what
//                       the activities allocate, not what stays live
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Worker as WorkerThread } from 'node:worker_threads';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../src/activities/index.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { deploymentId } from '../src/db/reconcile.ts';
import { chatWorkflowsOf, openServices } from '../src/runtime.ts';
import { createProviderResolver } from '../src/providers/resolver.ts';
import { createSandbox } from '../src/tools/index.ts';
import { InterruptRegistry } from '../src/worker/interrupts.ts';
import { bundleWorkflowsInChild } from '../src/worker/bundle-workflows.ts';
import { parseVariant } from './variant.ts';

/** The SDK keeps its workflow threads private; this reaches them for a diagnostic only. */
function logMemory(worker: Worker, file: string): void {
  const mb = (n: number) => Math.round(n / 2 ** 20);
  const threads = () => ((worker as unknown as { workflowCreator?: { workerThreadClients?: Array<{ workerThread: WorkerThread }> } })
    .workflowCreator?.workerThreadClients ?? []).map((c) => c.workerThread);
  setInterval(async () => {
    const m = process.memoryUsage();
    const heaps = await Promise.all(threads().map((t) => t.getHeapStatistics().then((h) => ({ used: mb(h.used_heap_size), total: mb(h.total_heap_size) }))));
    fs.appendFileSync(file, `${JSON.stringify({
      t: Date.now(), rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), workflowThreads: heaps,
    })}\n`);
  }, 1_000).unref();
}

async function startAllocationProfile(): Promise<() => Promise<object>> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
  });
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    return profile;
  };
}

async function main(): Promise<void> {
  const variant = parseVariant(process.env.BENCH_VARIANT ?? '');
  const config = loadConfig() as Config & { databaseUrl: string; temporalAddress: string };
  Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' } } } });
  const services = openServices(config);
  await migrate(config.databaseUrl);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const interrupts = new InterruptRegistry(config.databaseUrl);
  await interrupts.start();
  const deployment = await deploymentId(services.pool);
  const activities = createActivities({
    config, pool: services.pool, events: services.events, interrupts, providerFor: createProviderResolver(services.config),
    deploymentId: deployment, sandbox: createSandbox(config.sandbox),
    workflows: chatWorkflowsOf(connection, config, deployment),
  });
  const int = (k: string) => {
    if (!variant.has(k)) return null;
    const value = Number(variant.get(k));
    if (!Number.isInteger(value) || value < 1) throw new Error(`worker variant ${k} needs a positive integer, got ${JSON.stringify(variant.get(k))}`);
    return { value };
  };
  const options: WorkerOptions = {
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    // As `parley worker` does: the bundle PARLEY_WORKFLOW_BUNDLE names (`prebundled`), else one built in a child.
    workflowBundle: config.workflowBundlePath ? { codePath: config.workflowBundlePath } : await bundleWorkflowsInChild(),
    activities,
    shutdownGraceTime: config.shutdownGraceMs,
    ...(int('threads') ? { workflowThreadPoolSize: int('threads')!.value } : {}),
    maxConcurrentActivityTaskExecutions: int('activity-slots')?.value ?? config.workerMaxActivities,
    ...(int('wft-slots') ? { maxConcurrentWorkflowTaskExecutions: int('wft-slots')!.value } : {}),
  };
  const worker = await Worker.create(options);
  if (variant.get('memory-log')) logMemory(worker, variant.get('memory-log')!);
  const stopAllocationProfile = variant.get('alloc-profile') ? await startAllocationProfile() : null;
  const stop = () => worker.shutdown();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`Parley worker polling (variant ${[...variant].map(([k, v]) => (v ? `${k}=${v}` : k)).join(',')})`);
  await worker.run();
  if (stopAllocationProfile) fs.writeFileSync(variant.get('alloc-profile')!, JSON.stringify(await stopAllocationProfile()));
  await interrupts.stop();
  await services.close();
  process.exit(0);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
