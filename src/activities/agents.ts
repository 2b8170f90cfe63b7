// The sub-agent tools' activities: spawn_agent, message_agent, interrupt_agent and list_agents run
// as a tool call (from runToolCall), wait_agent as the two local activities around the workflow's
// wait. Each records its result like any tool; a refusal is a tool error the model reads.
import { Context } from '@temporalio/activity';
import {
  beginAgentWait, endAgentWait, interruptAgent, listAgents, messageAgent, spawnAgent, spawnedAgent, type AgentCall,
} from '../chats/agents.ts';
import { idempotencyClaim } from '../chats/idempotency.ts';
import type { ChatDeps } from '../chats/service.ts';
import { loadToolCall, saveToolResult } from '../db/turns.ts';
import { DomainError } from '../shared/errors.ts';
import { uuidFromKey } from '../shared/ids.ts';
import type { ToolCallPart } from '../shared/types.ts';
import { parseAgentArgs, type AgentToolName } from '../tools/agents.ts';
import { ToolError } from '../tools/index.ts';
import type { BeginAgentWaitResult, EndAgentWaitInput, ToolCallRef, ToolCallResult } from '../workflows/contract.ts';

export type AgentDeps = ChatDeps;

const answered = (isError: boolean): ToolCallResult => ({ isError, interrupted: false, replayed: false });

/** A refusal (bad arguments, not a sub-agent of this chat, a limit) is the tool's error result. */
const isRefusal = (err: unknown): err is Error => err instanceof ToolError || (err instanceof DomainError && err.kind !== 'internal');

export function createAgentActivities(deps: AgentDeps) {
  const callOf = (ref: ToolCallRef): AgentCall => ({
    chatId: ref.chatId, turn: ref.turn, step: ref.step, index: ref.index, toolCallId: ref.toolCallId, attempt: Context.current().info.attempt,
  });
  const save = (call: AgentCall, name: string, result: unknown, isError: boolean) => saveToolResult(deps.pool, deps.events, {
    ...call, part: { type: 'tool_result', toolCallId: call.toolCallId, name, result, isError },
  });
  /** Runs `fn`; a refusal is recorded as the call's error result, and `refused` says so. */
  const unlessRefused = async <T>(call: AgentCall, name: string, fn: () => Promise<T>): Promise<{ value: T } | { refused: ToolCallResult }> => {
    try {
      return { value: await fn() };
    } catch (err) {
      if (!isRefusal(err)) throw err;
      await save(call, name, err.message, true);
      return { refused: answered(true) };
    }
  };
  /** Runs `fn` and records what it returns as the call's result (or its refusal as an error result). */
  const answer = async (call: AgentCall, name: string, fn: () => Promise<unknown>): Promise<ToolCallResult> => {
    const r = await unlessRefused(call, name, fn);
    if ('refused' in r) return r.refused;
    await save(call, name, r.value, false);
    return answered(false);
  };

  return {
    /** A sub-agent tool call that runToolCall found unanswered. */
    async runAgentTool(ref: ToolCallRef, call: ToolCallPart & { name: AgentToolName }): Promise<ToolCallResult> {
      const c = callOf(ref);
      switch (call.name) {
        case 'spawn_agent': {
          // spawnAgent records the result itself, in the transaction that creates the child.
          const r = await unlessRefused(c, call.name, () => spawnAgent(deps, c, parseAgentArgs('spawn_agent', call.args)));
          return 'refused' in r ? r.refused : { ...answered(false), spawned: r.value };
        }
        case 'message_agent':
          return answer(c, call.name, async () => {
            const args = parseAgentArgs('message_agent', call.args);
            // Keyed on the call: a retried activity does not send the message twice.
            const claim = idempotencyClaim(ref.chatId, uuidFromKey(`message_agent/${ref.chatId}/${ref.toolCallId}`), {
              method: 'TOOL', route: 'message_agent', body: args,
            });
            return messageAgent(deps, ref.chatId, args, claim);
          });
        case 'interrupt_agent':
          return answer(c, call.name, () => interruptAgent(deps, ref.chatId, parseAgentArgs('interrupt_agent', call.args)));
        case 'list_agents':
          return answer(c, call.name, () => { parseAgentArgs('list_agents', call.args); return listAgents(deps, ref.chatId); });
        case 'wait_agent':
          // The workflow waits for wait_agent itself (beginAgentWait); a call routed here cannot wait.
          return answer(c, call.name, async () => { throw new ToolError('wait_agent could not wait here; call it again.'); });
      }
    },

    /** A recorded spawn_agent call: the child it created, so the workflow can (again) start its run. */
    spawnedBy: (ref: ToolCallRef) => spawnedAgent(deps, ref.chatId, ref.toolCallId),

    async beginAgentWait(ref: ToolCallRef): Promise<BeginAgentWaitResult> {
      const { call, recorded } = await loadToolCall(deps.pool, ref.chatId, ref.turn, ref.step, ref.toolCallId);
      if (recorded) return { result: { isError: recorded.isError, interrupted: false, replayed: true } };
      const c = callOf(ref);
      if (!call) {
        await save(c, 'wait_agent', `No tool call ${ref.toolCallId} in this step.`, true);
        return { result: answered(true) };
      }
      const r = await unlessRefused(c, 'wait_agent', () => beginAgentWait(deps, ref.chatId, parseAgentArgs('wait_agent', call.args)));
      if ('refused' in r) return { result: r.refused };
      if ('wait' in r.value) return { wait: r.value.wait };
      await save(c, 'wait_agent', r.value.result, false);
      return { result: answered(false) };
    },

    async endAgentWait(input: EndAgentWaitInput): Promise<ToolCallResult> {
      const { recorded } = await loadToolCall(deps.pool, input.chatId, input.turn, input.step, input.toolCallId);
      if (recorded) return { isError: recorded.isError, interrupted: false, replayed: true };
      const { wait, timedOut: _timedOut, ...ref } = input;
      return answer(callOf(ref), 'wait_agent', () => endAgentWait(deps, ref.chatId, wait));
    },
  };
}
