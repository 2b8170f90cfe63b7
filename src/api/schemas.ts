// TypeBox schemas of the resources the API returns (request bodies live beside their handlers).
// They validate nothing on the way out but drive serialisation and the OpenAPI document, so they
// must list every field a client sees: fast-json-stringify drops the rest.
import { Type, type TSchema } from '@fastify/type-provider-typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });
/** Free-form JSON object (model options, tool arguments, ...). */
const AnyObject = Type.Record(Type.String(), Type.Unknown());

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    chatId: Type.Optional(Type.String({ description: 'The chat this request saved, when it failed afterwards (503)' })),
    messageId: Type.Optional(Type.String({ description: 'The message this request saved, when it failed afterwards (503)' })),
    queuedMessageId: Type.Optional(Type.String({ description: 'The queued message this request saved, when it failed afterwards (503)' })),
  }),
}, { description: 'Every error response has this shape.' });

/** Spread into a route's `response` so every error is documented with the one error shape. */
export const errorResponses = { '4xx': ErrorBody, '5xx': ErrorBody };

export const IdParams = Type.Object({ id: Type.String() });

/** Headers of the requests that create something: a retry with the same key is not done twice. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    description: 'Makes a retry safe: the same key and body within 24 h return the first response instead of doing it again; ' +
      'the same key with another request answers 422. A UUID per request is a good key.',
  })),
});

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
  createdAt: DateTime,
  updatedAt: DateTime,
});

export const ChatStatus = Type.Enum(['pending', 'running', 'waiting', 'error']);

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
  parentChatId: Nullable(Type.String({ format: 'uuid' })),
  lastError: Nullable(ErrorInfo),
  archived: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
  usage: Type.Object({
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

/** Message content as clients send it (emptiness is checked by the handler, to say so clearly). */
export const Content = Type.String({ maxLength: 1_000_000 });
