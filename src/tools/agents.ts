// The sub-agent tools as the model sees them, and the checks of their arguments. They act on chats,
// not on the workspace, so they run in the activities (src/activities/agents.ts) on the chat
// use-cases (src/chats/agents.ts); wait_agent's wait is the workflow's own (src/workflows/chat.ts).
import type { ToolSpec } from '../providers/index.ts';
import { parseArgs, toJsonSchema, type ArgsOf, type FieldDefs } from './args.ts';

/** wait_agent's default timeout; the longest is PARLEY_SUBAGENT_MAX_WAIT_SECONDS. */
export const DEFAULT_WAIT_SECONDS = 300;
/** A report longer than this reaches the parent cut, with a note saying so. */
export const REPORT_MAX_BYTES = 16 * 1024;

const chatId = { type: 'string', description: 'The sub-agent\'s chat id, as spawn_agent returned it.', required: true } as const;

const fields = {
  spawn_agent: {
    prompt: { type: 'string', description: 'The task for the sub-agent: its first message. Say everything it needs; it does not see this conversation.', required: true },
    title: { type: 'string', description: 'A short title for the sub-agent\'s chat. Default: the first words of the prompt.' },
  },
  wait_agent: {
    chatId,
    timeoutSeconds: { type: 'integer', minimum: 1, description: `How long to wait at most. Default ${DEFAULT_WAIT_SECONDS}.` },
  },
  message_agent: {
    chatId,
    message: { type: 'string', description: 'The message to send; it is queued if the sub-agent is busy.', required: true },
    interrupt: { type: 'boolean', description: 'Interrupt the sub-agent\'s current turn first, so this message comes next. Default false.' },
  },
  interrupt_agent: { chatId },
  list_agents: {},
} as const satisfies Record<string, FieldDefs>;

export type AgentToolName = keyof typeof fields;
export type AgentArgs<N extends AgentToolName> = ArgsOf<(typeof fields)[N]>;

const descriptions: Record<AgentToolName, string> = {
  spawn_agent:
    'Start a sub-agent: a new chat, with the same model, tools and workspace as yours, that works on ' +
    'the prompt on its own and ends with a report. Returns at once with {chatId, title}; use ' +
    'wait_agent to get its report. Several sub-agents can work in parallel.',
  wait_agent:
    'Wait until a sub-agent\'s current turn is done and return {chatId, status, report}: its status ' +
    '(waiting when done, error with a message when it failed) and its last answer. After timeoutSeconds ' +
    'returns {chatId, status: "running", timedOut: true}; you can wait again.',
  message_agent:
    'Send a sub-agent a message (further instructions or questions). It starts a new turn, or is queued ' +
    'while the sub-agent is busy; interrupt: true stops its current turn first. Use wait_agent for its answer.',
  interrupt_agent: 'Stop a sub-agent\'s current turn. Returns {chatId, interrupted}.',
  list_agents: 'List your sub-agents: {agents: [{chatId, title, status}]}, oldest first.',
};

export const agentToolSpecs: ToolSpec[] = (Object.keys(fields) as AgentToolName[]).map((name) => ({
  name, description: descriptions[name], parameters: toJsonSchema(fields[name]),
}));

export const isAgentTool = (name: string): name is AgentToolName => Object.hasOwn(fields, name);

/** Checks a call's arguments; throws ToolError with a message for the model. */
export function parseAgentArgs<N extends AgentToolName>(name: N, args: unknown): AgentArgs<N> {
  return parseArgs(name, fields[name] as FieldDefs, args) as unknown as AgentArgs<N>;
}
