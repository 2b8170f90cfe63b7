// The peer's worker process: serves peerStreamWorkflow on its own task queue. Run by the bench.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { useOurTemporalPackages } from './dedupe.ts';
import { serveWorker } from '../worker-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

// workflow-streams depends on exact @temporalio/* 1.23 versions, so npm nests copies of them under
// it. One workflow sandbox must hold one @temporalio/workflow: point the bundle at ours (1.24).
const ours = (pkg: string) => path.dirname(fileURLToPath(import.meta.resolve(`${pkg}/package.json`)));
const aliases = { '@temporalio/workflow': ours('@temporalio/workflow'), '@temporalio/common': ours('@temporalio/common') };

serveWorker('peer worker ready', async () => {
  useOurTemporalPackages();
  const { createPeerActivities } = await import('./activities.ts');
  Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('WARN'), telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' } } } });
  const address = env('TEMPORAL_ADDRESS');
  const client = new Client({ connection: await Connection.connect({ address }) });
  const noop = () => {};
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: path.join(here, 'workflows.ts'),
    logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop },
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, alias: { ...(config.resolve?.alias as Record<string, string | false>), ...aliases } },
    }),
  });
  return Worker.create({
    connection: await NativeConnection.connect({ address }),
    taskQueue: env('PEER_TASK_QUEUE'),
    workflowBundle,
    activities: createPeerActivities(client, env('FAKE_BASE_URL'), Number(env('PEER_BATCH_MS'))),
  });
});
