import { ApplicationFailure, Context } from '@temporalio/activity';
import { advanceChat } from '../db/turns.ts';
import { notifyInterrupt } from '../worker/interrupts.ts';
import { createLlmActivity, type LlmDeps } from './llm.ts';
import { createCompactionActivity } from './compaction.ts';
import { createTitleActivity } from './title.ts';
import type { Sandbox } from '../tools/index.ts';
import { createToolActivity } from './tools.ts';
import { WRONG_DEPLOYMENT, type AdvanceChatInput, type ChatActivities, type ChatLocalActivities } from './types.ts';

export type ActivityDeps = LlmDeps & {
  /** This worker's database identity (src/db/reconcile.ts deploymentId). */
  deploymentId: string;
  /** Where `execute` runs commands. */
  sandbox: Sandbox;
};

/** All activities of the chat workflow, bound to this worker's PostgreSQL, event log and providers. */
export function createActivities(deps: ActivityDeps): ChatActivities & ChatLocalActivities {
  return {
    advanceChat: async (input: AdvanceChatInput) => {
      // Another Parley's workflow on our task queue: its chat is not in our database, and settling it
      // here (as deleted) would end a chat that is alive elsewhere. The workflow fails its task on
      // this, loudly, and Temporal hands the retry to any worker of the queue: the right one serves it.
      if (input.deployment !== undefined && input.deployment !== deps.deploymentId) {
        throw ApplicationFailure.create({
          type: WRONG_DEPLOYMENT,
          nonRetryable: true,
          message: `chat ${input.chatId} belongs to Parley deployment ${input.deployment}, but this worker serves ` +
            `deployment ${deps.deploymentId}: two Parleys with different databases share Temporal task queue ` +
            `"${deps.config.taskQueue}". Give each its own PARLEY_TASK_QUEUE (or Temporal namespace).`,
        });
      }
      const next = await advanceChat(deps.pool, deps.events, input, Context.current().info.workflowExecution?.runId ?? '', {
        maxSteps: deps.config.maxSteps,
        llmStepTimeoutMs: deps.config.llmStepTimeoutMs,
      });
      // Recorded with the result, so a replay lingers exactly as the original run did.
      return next.turn === null && !next.compact && next.status !== 'deleted' ? { ...next, idleMs: deps.config.runIdleMs } : next;
    },
    llmStep: createLlmActivity(deps),
    runToolCall: createToolActivity(deps),
    compactContext: createCompactionActivity(deps),
    generateTitle: createTitleActivity(deps),
    broadcastInterrupt: ({ chatId, turn }) => notifyInterrupt(deps.pool, chatId, turn),
  };
}
