import { ApplicationFailure, Context } from '@temporalio/activity';
import { advanceChat } from '../db/turns.ts';
import { notifyInterrupt } from '../events/channels.ts';
import { createLlmActivity, type LlmDeps } from './llm.ts';
import { createCompactionActivity } from './compaction.ts';
import { createTitleActivity } from './title.ts';
import type { Sandbox } from '../tools/index.ts';
import { createToolActivity } from './tools.ts';
import { createAgentActivities } from './agents.ts';
import { interruptSubAgents } from '../chats/agents.ts';
import { beginActions, endActions } from '../chats/actions.ts';
import type { ChatWorkflows } from '../temporal/chat-workflows.ts';
import { WRONG_DEPLOYMENT, type AdvanceChatInput, type ChatActivities, type ChatLocalActivities, type Deployed } from '../workflows/contract.ts';

export type ActivityDeps = LlmDeps & {
  /** This worker's database identity (src/db/reconcile.ts deploymentId). */
  deploymentId: string;
  /** Where `execute` runs commands. */
  sandbox: Sandbox;
  /** The sub-agent tools message, interrupt and wake other chats' workflows. */
  workflows: ChatWorkflows;
};

/** All activities of the chat workflow, bound to this worker's PostgreSQL, event log and providers. */
export function createActivities(deps: ActivityDeps): ChatActivities & ChatLocalActivities {
  /**
   * Another Parley's workflow on our task queue: its chat is not in our database, and acting on it
   * here (settling it as deleted, failing its step for a missing row) would break a chat that is alive
   * elsewhere. Refused, loudly. A local activity's refusal is final: the workflow fails its task on it,
   * and Temporal hands the retried task to any worker of the queue. A regular activity's is retried
   * after a second, by whichever worker polls it next. Sooner or later the right one serves it.
   */
  const refuseOtherDeployments = (input: Deployed & { chatId: string }): void => {
    if (input.deployment === undefined || input.deployment === deps.deploymentId) return;
    const local = Context.current().info.isLocal;
    throw ApplicationFailure.create({
      type: WRONG_DEPLOYMENT,
      nonRetryable: local,
      ...(local ? {} : { nextRetryDelay: '1s' }),
      message: `chat ${input.chatId} belongs to Parley deployment ${input.deployment}, but this worker serves ` +
        `deployment ${deps.deploymentId}: two Parleys with different databases share Temporal task queue ` +
        `"${deps.config.taskQueue}". Give each its own PARLEY_TASK_QUEUE (or Temporal namespace).`,
    });
  };
  const guarded = <I extends Deployed & { chatId: string }, O>(fn: (input: I) => Promise<O>) => async (input: I): Promise<O> => {
    refuseOtherDeployments(input);
    return fn(input);
  };
  const agents = createAgentActivities(deps);
  return {
    advanceChat: async (input: AdvanceChatInput) => {
      refuseOtherDeployments(input);
      const next = await advanceChat(deps.pool, deps.events, input, Context.current().info.workflowExecution?.runId ?? '', {
        maxSteps: deps.config.maxSteps,
        llmStepTimeoutMs: deps.config.llmStepTimeoutMs,
      });
      // Recorded with the result, so a replay lingers exactly as the original run did.
      return next.turn === null && !next.compact && next.status !== 'deleted' ? { ...next, idleMs: deps.config.runIdleMs } : next;
    },
    llmStep: guarded(createLlmActivity(deps)),
    runToolCall: guarded(createToolActivity({ ...deps, agents })),
    compactContext: guarded(createCompactionActivity(deps)),
    generateTitle: guarded(createTitleActivity(deps)),
    // An interrupt of a chat reaches its busy sub-agents too (and theirs, through their own workflows).
    broadcastInterrupt: async ({ chatId, turn }) => {
      await Promise.all([notifyInterrupt(deps.pool, chatId, turn), interruptSubAgents(deps, chatId)]);
    },
    beginAgentWait: guarded(agents.beginAgentWait),
    endAgentWait: guarded(agents.endAgentWait),
    beginActions: guarded((input) => beginActions(deps, input)),
    endActions: guarded((input) => endActions(deps, input)),
  };
}
