// Sub-agents: the use-cases behind the spawn_agent, wait_agent, message_agent, interrupt_agent and
// list_agents tools. A sub-agent is a chat of the same owner, with parent_chat_id set, that works
// in its parent's workspace with its parent's model. Refusals are DomainErrors, which the tool
// activity hands to the model as a tool error it can read. The waiting itself is the workflow's
// (src/workflows/chat.ts waitAgent): these functions only read and write PostgreSQL and signal.
import {
  findSubAgent, insertSubAgent, lastAssistantText, listSubAgents, lockSpawningParent, subAgentId, type SubAgent,
} from '../db/agents.ts';
import { defaultTitle } from '../db/chats.ts';
import type { IdempotencyClaim } from '../db/idempotency.ts';
import { storableText } from '../db/json.ts';
import { checkContent, insertUserMessage } from '../db/messages.ts';
import { resolveModel } from '../db/models.ts';
import { withTransaction } from '../db/pool.ts';
import { insertToolResult, type ToolResultRecord } from '../db/turns.ts';
import { conflict, DomainError, notFound } from '../shared/errors.ts';
import { REPORT_MAX_BYTES, DEFAULT_WAIT_SECONDS, type AgentArgs } from '../tools/agents.ts';
import { headUtf8 } from '../tools/utf8.ts';
import type { AgentWait, SpawnedAgent } from '../workflows/contract.ts';
import { interruptChat, submitUserMessage, type ChatDeps } from './service.ts';

/** The tool call being answered: where its result goes. */
export type AgentCall = Omit<ToolResultRecord, 'part'> & { toolCallId: string };

const SUBAGENT_INTERRUPT_REASON = 'its parent agent was interrupted';

/** A refusal the model reads as the tool's result. */
const refused = (message: string) => new DomainError('invalid', 'agent_tool_refused', message);

async function requireSubAgent(deps: ChatDeps, parentChatId: string, childId: string): Promise<SubAgent> {
  const child = await findSubAgent(deps.pool, parentChatId, childId);
  if (!child) throw refused(`${JSON.stringify(childId)} is not one of your sub-agents (list_agents shows them).`);
  return child;
}

/**
 * Creates the sub-agent chat with `prompt` as its first message and records the call's result
 * `{chatId, title}`, in one transaction: a retried call finds its chat (the id comes from the call)
 * and creates no second one. The caller starts the child's first run.
 */
export async function spawnAgent(deps: ChatDeps, call: AgentCall, args: AgentArgs<'spawn_agent'>): Promise<SpawnedAgent> {
  const { maxDepth, maxRunning } = deps.config.subagents;
  return withTransaction(deps.pool, async (tx) => {
    const parent = await lockSpawningParent(tx, call.chatId);
    if (!parent) throw notFound('chat');
    if (parent.depth >= maxDepth) {
      throw refused(`A sub-agent at depth ${parent.depth} cannot start sub-agents of its own (PARLEY_SUBAGENT_MAX_DEPTH=${maxDepth}). Do the work yourself.`);
    }
    if (parent.running >= maxRunning) {
      throw conflict(`You already have ${parent.running} sub-agents working, the most allowed (PARLEY_SUBAGENT_MAX_RUNNING=${maxRunning}). ` +
        'Wait for one with wait_agent, or stop one with interrupt_agent, then spawn again.');
    }
    const prompt = checkContent(args.prompt);
    const model = await resolveModel(tx, parent.modelId, deps.config);
    const id = subAgentId(call.chatId, call.toolCallId);
    const title = storableText(args.title?.trim() || defaultTitle(prompt));
    await insertSubAgent(tx, {
      id, ownerId: parent.ownerId, title, titleAuto: false, modelId: model.id, parentChatId: call.chatId,
      depth: parent.depth + 1, workspaceChatId: parent.workspaceChatId,
    });
    const message = await insertUserMessage(tx, id, 1, prompt);
    await deps.events.append(id, [{ type: 'status', data: { status: 'pending' } }, { type: 'message', data: message }], tx);
    await insertToolResult(tx, deps.events, {
      ...call, part: { type: 'tool_result', toolCallId: call.toolCallId, name: 'spawn_agent', result: { chatId: id, title }, isError: false },
    });
    return { chatId: id, ownerId: parent.ownerId, model: model.model };
  });
}

/** The child a recorded spawn_agent call created (a retried activity must still start its run). */
export async function spawnedAgent(deps: ChatDeps, parentChatId: string, toolCallId: string): Promise<SpawnedAgent | null> {
  const child = await findSubAgent(deps.pool, parentChatId, subAgentId(parentChatId, toolCallId));
  return child ? { chatId: child.id, ownerId: child.ownerId, model: child.modelName } : null;
}

export async function messageAgent(
  deps: ChatDeps, parentChatId: string, args: AgentArgs<'message_agent'>, idempotency?: IdempotencyClaim,
): Promise<unknown> {
  const child = await requireSubAgent(deps, parentChatId, args.chatId);
  const sent = await submitUserMessage(deps, { id: child.ownerId }, child.id, {
    content: args.message, behavior: args.interrupt ? 'interrupt' : 'queue',
  }, idempotency);
  return { chatId: child.id, queued: sent.queued };
}

export async function interruptAgent(deps: ChatDeps, parentChatId: string, args: AgentArgs<'interrupt_agent'>): Promise<unknown> {
  const child = await requireSubAgent(deps, parentChatId, args.chatId);
  return { chatId: child.id, interrupted: await interruptChat(deps, { id: child.ownerId }, child.id, SUBAGENT_INTERRUPT_REASON) };
}

export async function listAgents(deps: ChatDeps, parentChatId: string): Promise<unknown> {
  const agents = await listSubAgents(deps.pool, parentChatId);
  return { agents: agents.map((a) => ({ chatId: a.id, title: a.title, status: a.status })) };
}

/** Interrupts every sub-agent of the chat that has a turn pending or running (theirs cascade in turn). */
export async function interruptSubAgents(deps: ChatDeps, chatId: string): Promise<void> {
  const busy = (await listSubAgents(deps.pool, chatId)).filter((a) => a.status === 'pending' || a.status === 'running');
  await Promise.all(busy.map((a) => interruptChat(deps, { id: a.ownerId }, a.id, SUBAGENT_INTERRUPT_REASON)));
}

const isIdle = (a: SubAgent): boolean => a.status === 'waiting' || a.status === 'error';

/**
 * wait_agent before its wait: `{result}` when there is nothing to wait for (the child is idle), else
 * what the workflow must wait for. The timeout is the call's, capped at PARLEY_SUBAGENT_MAX_WAIT_SECONDS.
 */
export async function beginAgentWait(deps: ChatDeps, parentChatId: string, args: AgentArgs<'wait_agent'>):
  Promise<{ result: unknown } | { wait: AgentWait }> {
  const child = await requireSubAgent(deps, parentChatId, args.chatId);
  if (isIdle(child)) return { result: await agentReport(deps, child, child.turn) };
  const seconds = Math.min(args.timeoutSeconds ?? DEFAULT_WAIT_SECONDS, deps.config.subagents.maxWaitSeconds);
  return { wait: { childChatId: child.id, turn: child.turn, timeoutMs: seconds * 1000 } };
}

/** wait_agent after its wait: the child's status and report, or that it is still running. */
export async function endAgentWait(deps: ChatDeps, parentChatId: string, wait: AgentWait): Promise<unknown> {
  const child = await findSubAgent(deps.pool, parentChatId, wait.childChatId);
  if (!child) throw refused(`The sub-agent ${wait.childChatId} was deleted while you waited for it.`);
  // Decided by PostgreSQL, not by whether the signal came: a timeout that raced the child's
  // settling still reports it.
  if (!isIdle(child) && child.turn <= wait.turn) return { chatId: child.id, status: 'running', timedOut: true };
  return agentReport(deps, child, wait.turn);
}

/** What wait_agent returns for a settled turn: status, the last answer (capped) and the error if any. */
async function agentReport(deps: ChatDeps, child: SubAgent, turn: number): Promise<unknown> {
  const text = await lastAssistantText(deps.pool, child.id, turn);
  const buf = Buffer.from(text, 'utf8');
  const report = buf.length <= REPORT_MAX_BYTES ? text
    : `${headUtf8(buf, REPORT_MAX_BYTES).toString('utf8')}\n[report cut at ${REPORT_MAX_BYTES / 1024} KB of ${buf.length} bytes: the sub-agent's chat ${child.id} has all of it]`;
  return {
    chatId: child.id,
    status: child.status,
    report,
    ...(child.status === 'error' && child.lastError ? { error: child.lastError.message } : {}),
  };
}
