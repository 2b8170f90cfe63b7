import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { bundleWorkflowsInChild } from './bundle-workflows.ts';

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
