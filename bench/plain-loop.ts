// The architecture Parley replaces: the chat's turn loop as a plain async loop in the process that
// received the message, calling the very same activity functions (same SQL, same provider adapter,
// same tools) without Temporal. MockActivityEnvironment gives them the activity Context they read
// (attempt, heartbeat, cancellation); nothing here is durable.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../src/activities/index.ts';

const noop = () => {};
const quiet: Logger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

/**
 * Runs the chat's pending turns to the end, like chatWorkflow's loop (without interrupts or
 * continue-as-new). `timings` collects the total ms per activity, to compare with the worker's.
 */
export async function runPlainTurns(deps: ActivityDeps, chatId: string, timings?: Record<string, number>): Promise<void> {
  const acts = createActivities(deps);
  // A fresh run id per busy period, as each workflow run has: advanceChat keys its idempotency on it.
  const runId = randomUUID();
  const run = async <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> => {
    const t0 = performance.now();
    try {
      return await new MockActivityEnvironment({ workflowExecution: { workflowId: `plain-${chatId}`, runId } }, { logger: quiet }).run(fn, ...args);
    } finally {
      if (timings) timings[fn.name] = (timings[fn.name] ?? 0) + performance.now() - t0;
    }
  };

  let next = await run(acts.advanceChat, { chatId, startNext: true });
  while (next.turn !== null) {
    const turn = next.turn;
    let outcome: 'completed' | 'max_steps' = 'max_steps';
    for (let step = 1; step <= next.settings.maxSteps; step++) {
      const ref = { chatId, turn, step };
      const result = await run(acts.llmStep, ref);
      if (result.toolCalls.length > 0) {
        await Promise.all(result.toolCalls.map((call, index) => run(acts.runToolCall, { ...ref, index, toolCallId: call.toolCallId })));
      } else {
        outcome = 'completed';
        break;
      }
    }
    next = await run(acts.advanceChat, { chatId, finished: { turn, outcome }, startNext: true });
  }
}
