import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { forkChat } from '../../db/fork.ts';
import type { ApiDeps } from '../deps.ts';
import { Chat, errorResponses, IdParams } from '../schemas.ts';

export const forkRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/chats/:id/fork', {
    schema: {
      summary: 'Fork a chat: a new idle chat with a copy of the transcript up to a message',
      description: 'The copy includes the given message; when it is an assistant or tool message, the whole step '
        + '(the tool results of its calls) is included. Same owner and model, `parentChatId` = the source, title '
        + '"Fork of <title>". No turn starts: send a message to continue. Workspace files are not copied. Copied '
        + 'messages keep their usage (the fork shows what its transcript cost) but count once in /usage.',
      tags: ['chats'],
      params: IdParams,
      body: Type.Object({ messageId: Type.String({ description: 'Last message to copy' }) }),
      response: { 201: Type.Object({ chat: Chat }), ...errorResponses },
    },
  }, async (request, reply) => {
    const chat = await forkChat(deps.pool, request.user, request.params.id, request.body.messageId);
    return reply.code(201).send({ chat });
  });
};
