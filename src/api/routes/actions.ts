import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { answerToolCall } from '../../chats/actions.ts';
import type { ApiDeps } from '../deps.ts';
import { errorResponses } from '../schemas.ts';

const ActionParams = Type.Object({ id: Type.String(), toolCallId: Type.String({ minLength: 1, maxLength: 200 }) });

export const actionRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/chats/:id/tool-calls/:toolCallId', {
    config: { chatText: true },
    schema: {
      summary: 'Answer a pending action of a paused turn (requires_action): approve or deny a tool call, or answer an ask_user_question',
      description: 'Once every pending action of the step is answered, the approved calls run, each denied one gets an error result ' +
        'with the reason, and the turn goes on. 404: no such pending call; 409: it was answered already or no longer waits.',
      tags: ['chats'],
      params: ActionParams,
      body: Type.Union([
        Type.Object({
          decision: Type.Enum(['approve', 'deny']),
          reason: Type.Optional(Type.String({ maxLength: 10_000, description: 'For a denial: told to the model' })),
        }, { additionalProperties: false }),
        Type.Object({ answer: Type.String({ maxLength: 100_000 }) }, { additionalProperties: false }),
      ]),
      response: {
        200: Type.Object({ toolCallId: Type.String(), decision: Type.Enum(['approve', 'deny', 'answer']) }),
        ...errorResponses,
      },
    },
  }, async (request) => answerToolCall(deps, request.user, request.params.id, request.params.toolCallId, request.body));
};
