import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { promoteQueued, removeQueued } from '../../db/queue.ts';
import type { ApiDeps } from '../deps.ts';
import { errorResponses, QueuedMessage } from '../schemas.ts';

const QueueParams = Type.Object({ id: Type.String(), queuedId: Type.String() });

export const queueRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const tags = ['queue'];

  app.delete('/chats/:id/queue/:queuedId', {
    schema: { summary: 'Remove a queued message', tags, params: QueueParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    await removeQueued(deps.pool, deps.events, request.user.id, request.params.id, request.params.queuedId);
    return reply.code(204).send(null);
  });

  app.post('/chats/:id/queue/:queuedId/promote', {
    schema: {
      summary: 'Move a queued message to the front of the queue',
      tags,
      params: QueueParams,
      response: { 200: Type.Object({ queue: Type.Array(QueuedMessage) }), ...errorResponses },
    },
  }, async (request) => ({
    queue: await promoteQueued(deps.pool, deps.events, request.user.id, request.params.id, request.params.queuedId),
  }));
};
