// Temporal's own cost on this machine for a turn of Parley's shape, with activities that do nothing:
// a local activity to begin and one to end the turn (advanceChat), N regular activities (llmStep,
// same options) and N - 1 local ones between them (a fast tool). Like a chat's run, one execution
// serves many turns and stays cached on its worker; a turn is an update, whose result returns once
// the turn's last task completes. What Parley's figures have above this floor is Parley's own work.
import { condition, defineSignal, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { FloorActivities } from './activities.ts';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s' } as const;
const { step } = proxyActivities<FloorActivities>({
  startToCloseTimeout: '10m', heartbeatTimeout: '20s', retry,
});
const { local } = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '1m', retry });

export const turnUpdate = defineUpdate<void, [{ steps: number }]>('turn');
export const closeSignal = defineSignal('close');

export async function floorWorkflow(): Promise<void> {
  let closed = false;
  let busy = false;
  setHandler(closeSignal, () => { closed = true; });
  setHandler(turnUpdate, async ({ steps }) => {
    busy = true;
    try {
      await local();
      for (let i = 1; i <= steps; i++) {
        await step();
        if (i < steps) await local();
      }
      await local();
    } finally {
      busy = false;
    }
  }, { validator: (_turn) => { if (busy) throw new Error('a turn is running'); } });
  await condition(() => closed && !busy);
}
