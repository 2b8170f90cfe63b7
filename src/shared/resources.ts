// The resources Parley's API returns, as TypeBox schemas: written once, they drive the API's
// serialisation and OpenAPI document (src/api/schemas.ts) and give the repositories their types
// (Static<>). Every field a client sees is listed here: fast-json-stringify drops the rest.
// TypeBox as the API's type provider re-exports it (the same major version its inference expects).
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });
/** Free-form JSON object (model options, tool arguments, ...). */
const AnyObject = Type.Record(Type.String(), Type.Unknown());

export const Role = Type.Enum(['admin', 'member']);

export const User = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  role: Role,
  createdAt: DateTime,
});

export const ProviderType = Type.Enum(['openai', 'anthropic', 'openai-compatible']);

export const Provider = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  type: ProviderType,
  baseUrl: Nullable(Type.String()),
  hasApiKey: Type.Boolean(),
  source: Type.Enum(['api', 'env'], { description: '`env`: created from OPENAI_API_KEY / ANTHROPIC_API_KEY' }),
  createdAt: DateTime,
  updatedAt: DateTime,
});

/**
 * Far above any real price (today's dearest models cost hundreds per million tokens), and low enough
 * that a step's cost in micro-units stays a safe integer: a price of 1e308 once made every step of
 * its chats fail to store.
 */
export const MAX_PRICE_PER_MTOK = 1_000_000;
const Price = Type.Number({ minimum: 0, maximum: MAX_PRICE_PER_MTOK });

export const Pricing = Type.Object({
  inputPerMTok: Price,
  outputPerMTok: Price,
  cacheReadPerMTok: Type.Optional(Price),
  cacheWritePerMTok: Type.Optional(Price),
}, { additionalProperties: false, description: `Prices in currency units per million tokens (0 to ${MAX_PRICE_PER_MTOK})` });

/**
 * Which tool calls wait for a person's approval: `default` for every tool, `tools` per tool name.
 * Set on a model and on a chat; a chat's policy, when set, replaces its model's. Unset: all `auto`.
 */
export const ToolPolicy = Type.Object({
  default: Type.Optional(Type.Enum(['auto', 'ask'])),
  tools: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Type.Enum(['auto', 'ask']))),
}, { additionalProperties: false, description: '`ask`: the turn pauses in requires_action until the call is approved or denied' });

export const Model = Type.Object({
  id: Type.String({ format: 'uuid' }),
  providerId: Type.String({ format: 'uuid' }),
  providerName: Type.String(),
  model: Type.String({ description: 'Model name sent to the provider, e.g. gpt-4o' }),
  displayName: Nullable(Type.String()),
  contextLimit: Type.Integer(),
  compactionThresholdPercent: Type.Integer(),
  maxOutputTokens: Nullable(Type.Integer()),
  isDefault: Type.Boolean(),
  pricing: Nullable(Pricing),
  options: AnyObject,
  toolPolicy: Nullable(ToolPolicy),
  createdAt: DateTime,
  updatedAt: DateTime,
});

/** `requires_action`: a running turn paused until a person answers its pending actions. */
export const ChatStatus = Type.Enum(['pending', 'running', 'requires_action', 'waiting', 'error']);

export const ErrorInfo = Type.Object({
  message: Type.String(),
  kind: Type.String(),
  retryable: Type.Boolean(),
  provider: Type.Optional(Type.String()),
  statusCode: Type.Optional(Type.Integer()),
});

export const Chat = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.String(),
  status: ChatStatus,
  modelId: Nullable(Type.String({ format: 'uuid' })),
  parentChatId: Nullable(Type.String({ format: 'uuid', description: 'The chat this one was forked from, or the parent agent of a sub-agent' })),
  agentDepth: Type.Integer({ description: '0: a chat of its own (forks too); 1: a sub-agent spawned by its parent chat; 2: by a sub-agent, ...' }),
  lastError: Nullable(ErrorInfo),
  toolPolicy: Nullable(ToolPolicy),
  archived: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
  usage: Type.Object({
    // Includes the chat's sub-agents.
    inputTokens: Type.Integer(),
    outputTokens: Type.Integer(),
    costMicros: Type.Integer({ description: 'Cost in millionths of the pricing currency' }),
  }),
});

export const Usage = Type.Object({
  inputTokens: Type.Integer(),
  outputTokens: Type.Integer(),
  cacheReadTokens: Type.Integer(),
  cacheWriteTokens: Type.Integer(),
  reasoningTokens: Type.Integer(),
});

const MessagePart = Type.Union([
  Type.Object({ type: Type.Literal('text'), text: Type.String() }),
  Type.Object({ type: Type.Literal('reasoning'), text: Type.String(), signature: Type.Optional(Type.String()), redacted: Type.Optional(Type.String()) }),
  Type.Object({ type: Type.Literal('tool_call'), toolCallId: Type.String(), name: Type.String(), args: Type.Unknown() }),
  Type.Object({ type: Type.Literal('tool_result'), toolCallId: Type.String(), name: Type.String(), result: Type.Unknown(), isError: Type.Boolean() }),
]);

export const Message = Type.Object({
  id: Type.String({ format: 'uuid' }),
  chatId: Type.String({ format: 'uuid' }),
  role: Type.Enum(['user', 'assistant', 'tool', 'system']),
  parts: Type.Array(MessagePart),
  createdAt: DateTime,
  model: Type.Optional(Type.String()),
  usage: Type.Optional(Usage),
});

export const QueuedMessage = Type.Object({
  id: Type.String({ format: 'uuid' }),
  chatId: Type.String({ format: 'uuid' }),
  content: Type.String(),
  createdAt: DateTime,
});

/** A tool call of a paused turn that waits for a person (POST /chats/:id/tool-calls/:toolCallId). */
export const PendingAction = Type.Object({
  toolCallId: Type.String(),
  kind: Type.Enum(['approval', 'question'], { description: '`approval`: approve or deny the call; `question`: ask_user_question, answer it' }),
  tool: Type.String(),
  args: Type.Unknown({ description: 'The call\'s arguments; for a question {question, options?}' }),
  turn: Type.Integer(),
  step: Type.Integer(),
  createdAt: DateTime,
});

export type User = Static<typeof User>;
export type Provider = Static<typeof Provider>;
export type Pricing = Static<typeof Pricing>;
export type Model = Static<typeof Model>;
export type Chat = Static<typeof Chat>;
export type ToolPolicy = Static<typeof ToolPolicy>;
export type PendingAction = Static<typeof PendingAction>;
export type ChatUsage = Chat['usage'];
