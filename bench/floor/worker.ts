// The floor's worker process (see workflows.ts): Parley's worker settings, no-op activities, its
// own task queue. Run by the bench with the same node flags as `parley worker`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../../src/config.ts';
import { floorActivities } from './activities.ts';
import { serveWorker } from '../worker-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

serveWorker('floor worker ready', async () => {
  Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' } } } });
  const { FLOOR_TASK_QUEUE: taskQueue, TEMPORAL_ADDRESS: address } = process.env;
  if (!taskQueue || !address) throw new Error('FLOOR_TASK_QUEUE and TEMPORAL_ADDRESS are required');
  const config = loadConfig(process.env);
  const noop = () => {};
  return Worker.create({
    connection: await NativeConnection.connect({ address }),
    namespace: config.temporalNamespace,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: path.join(here, 'workflows.ts'),
      logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop },
    }),
    activities: floorActivities,
    maxConcurrentActivityTaskExecutions: config.workerMaxActivities,
  });
});
