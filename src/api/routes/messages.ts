import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { submitUserMessage } from '../../chats/service.ts';
import { requireChat } from '../../db/chats.ts';
import { listMessages, MAX_MESSAGE_PAGE } from '../../db/messages.ts';
import type { ApiDeps } from '../deps.ts';
import { idempotencyClaim } from '../../chats/idempotency.ts';
import { Content, errorResponses, IdempotencyHeaders, IdParams, Message, QueuedMessage } from '../schemas.ts';

export const messageRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const tags = ['messages'];

  app.get('/chats/:id/messages', {
    schema: {
      summary: 'User-visible messages of a chat, oldest first',
      tags,
      params: IdParams,
      querystring: Type.Object({
        after: Type.Optional(Type.String({ description: 'Return messages after this message id' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_MESSAGE_PAGE, default: 100 })),
      }),
      response: { 200: Type.Object({ messages: Type.Array(Message) }), ...errorResponses },
    },
  }, async (request) => {
    await requireChat(deps.pool, request.user.id, request.params.id);
    return { messages: await listMessages(deps.pool, request.params.id, { after: request.query.after, limit: request.query.limit ?? 100 }) };
  });

  app.post('/chats/:id/messages', {
    config: { chatText: true },
    schema: {
      summary: 'Send a message: starts a turn when the chat is idle, else queues it',
      description: '`behavior: "interrupt"` puts the message first in the queue and interrupts the running turn.',
      tags,
      params: IdParams,
      headers: IdempotencyHeaders,
      body: Type.Object({ content: Content, behavior: Type.Optional(Type.Enum(['queue', 'interrupt'])) }),
      response: {
        202: Type.Object({
          queued: Type.Boolean(),
          message: Type.Optional(Message),
          queuedMessage: Type.Optional(QueuedMessage),
        }),
        ...errorResponses,
      },
    },
  }, async (request, reply) => {
    const claim = idempotencyClaim(request.user.id, request.headers['idempotency-key'], {
      method: 'POST', route: `/chats/${request.params.id}/messages`, body: request.body,
    });
    const result = await submitUserMessage(deps, request.user, request.params.id, request.body, claim);
    return reply.code(202).send(result);
  });
};
