import { CancelledFailure, Context } from '@temporalio/activity';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import { loadToolCall, saveToolResult } from '../db/turns.ts';
import type { EventLog } from '../events/event-log.ts';
import { ensureWorkspace, runTool, type Sandbox } from '../tools/index.ts';
import type { InterruptRegistry } from '../worker/interrupts.ts';
import { isAgentTool } from '../tools/agents.ts';
import { agentPlace } from '../db/agents.ts';
import { workerShutdownFailure } from './failures.ts';
import type { createAgentActivities } from './agents.ts';
import { SPAWN_AGENT_TOOL, type ToolCallRef, type ToolCallResult } from '../workflows/contract.ts';

export interface ToolDeps {
  config: Config;
  pool: Pool;
  events: EventLog;
  interrupts: InterruptRegistry;
  sandbox: Sandbox;
  agents: Pick<ReturnType<typeof createAgentActivities>, 'runAgentTool' | 'spawnedBy'>;
}

const HEARTBEAT_MS = 1_000;

export function createToolActivity(deps: ToolDeps) {
  return async function runToolCall(ref: ToolCallRef): Promise<ToolCallResult> {
    const ctx = Context.current();
    // Read together: one round trip. A sub-agent works in its parent's workspace.
    const [{ call, recorded }, place] = await Promise.all([
      loadToolCall(deps.pool, ref.chatId, ref.turn, ref.step, ref.toolCallId),
      agentPlace(deps.pool, ref.chatId),
    ]);
    // Recorded by an earlier attempt whose completion was lost: never run the tool twice.
    if (recorded) {
      // A spawn whose completion was lost: the workflow must still (again) start the child's run.
      const spawned = call?.name === SPAWN_AGENT_TOOL && !recorded.isError ? await deps.agents.spawnedBy(ref) : null;
      return { isError: recorded.isError, interrupted: false, replayed: true, ...(spawned ? { spawned } : {}) };
    }
    const name = call?.name ?? 'unknown';
    const save = (result: unknown, isError: boolean) => saveToolResult(deps.pool, deps.events, {
      chatId: ref.chatId, turn: ref.turn, step: ref.step, index: ref.index, attempt: ctx.info.attempt,
      part: { type: 'tool_result', toolCallId: ref.toolCallId, name, result, isError },
    });
    if (!call) {
      await save(`No tool call ${ref.toolCallId} in this step.`, true);
      return { isError: true, interrupted: false, replayed: false };
    }

    if (isAgentTool(call.name)) return deps.agents.runAgentTool(ref, { ...call, name: call.name });

    const interrupt = deps.interrupts.register(ref.chatId, ref.turn);
    const signal = AbortSignal.any([ctx.cancellationSignal, interrupt.signal]);
    // Heartbeats keep a long tool alive in Temporal's eyes and carry cancellation back to us. A local
    // activity has no heartbeat: its cancellation comes with the workflow task.
    const beat = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
    try {
      const workspaceDir = await ensureWorkspace(deps.config.workspacesDir, place?.workspaceChatId ?? ref.chatId, deps.sandbox.owner);
      const outcome = await runTool(call.name, call.args, {
        workspaceDir, signal, limits: deps.config.toolLimits, sandbox: deps.sandbox,
      });
      await save(outcome.result, outcome.isError);
      return { isError: outcome.isError, interrupted: false, replayed: false };
    } catch (err) {
      if (!signal.aborted) throw err;
      if (ctx.cancellationDetails?.workerShutdown) throw workerShutdownFailure();
      // The turn settles this call with an "interrupted" result (it closes every dangling call).
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure('interrupted');
      return { isError: true, interrupted: true, replayed: false };
    } finally {
      clearInterval(beat);
      interrupt.release();
    }
  };
}
