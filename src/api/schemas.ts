// TypeBox schemas of the API's own shapes: the error body, ids, headers. The resources it returns
// are in src/shared/resources.ts (re-exported here); request bodies live beside their handlers.
import { Type } from '@fastify/type-provider-typebox';


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

export {
  Chat, ChatStatus, ErrorInfo, MAX_PRICE_PER_MTOK, Message, Model, PendingAction, Pricing, Provider, ProviderType, QueuedMessage, Role,
  ToolPolicy, Usage, User,
} from '../shared/resources.ts';

/** Message content as clients send it (emptiness is checked by the handler, to say so clearly). */
export const Content = Type.String({ maxLength: 1_000_000 });
