import { Context } from '@temporalio/activity';
import { advanceChat } from '../db/turns.ts';
import { notifyInterrupt } from '../worker/interrupts.ts';
import { createLlmActivity, type LlmDeps } from './llm.ts';
import { createCompactionActivity } from './compaction.ts';
import { createTitleActivity } from './title.ts';
import { createToolActivity } from './tools.ts';
import type { AdvanceChatInput, ChatActivities, ChatLocalActivities } from './types.ts';

export type ActivityDeps = LlmDeps;

/** All activities of the chat workflow, bound to this worker's PostgreSQL, event log and providers. */
export function createActivities(deps: ActivityDeps): ChatActivities & ChatLocalActivities {
  return {
    advanceChat: async (input: AdvanceChatInput) => {
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
