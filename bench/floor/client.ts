// The bench's side of the floor (see workflows.ts): one floor run per concurrent chat.
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { nowMs, within } from '../clock.ts';

export interface Floor {
  /** Runs one `steps`-step turn in floor run `slot` (started on first use); its duration in ms. */
  turn(slot: number, steps: number): Promise<number>;
  close(): Promise<void>;
}

export function floorRuns(temporal: Client, taskQueue: string): Floor {
  const runs: Array<Promise<WorkflowHandle>> = [];
  const run = (slot: number) => (runs[slot] ??= temporal.workflow.start('floorWorkflow', {
    workflowId: `floor-${randomUUID()}`, taskQueue, args: [],
  }));
  return {
    async turn(slot, steps) {
      const handle = await run(slot);
      const t0 = nowMs();
      await within(handle.executeUpdate('turn', { args: [{ steps }] }), 120_000, `floor turn in ${handle.workflowId}`);
      return nowMs() - t0;
    },
    async close() {
      await Promise.all(runs.map(async (h) => (await h).signal('close')));
    },
  };
}
