import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_EDIT_OPTIONS, editUserMessage, type EditOptions } from '../../chats/edit.ts';
import type { ApiDeps } from '../deps.ts';
import { Content, errorResponses, Message } from '../schemas.ts';

export interface EditRouteOptions {
  deps: ApiDeps;
  /** Default: wait up to 15 s for an interrupted turn to settle. */
  edit?: Partial<EditOptions>;
}

export const editRoutes: FastifyPluginAsyncTypebox<EditRouteOptions> = async (app, { deps, edit }) => {
  const options: EditOptions = { ...DEFAULT_EDIT_OPTIONS, ...edit };

  app.patch('/chats/:id/messages/:messageId', {
    config: { chatText: true },
    schema: {
      summary: 'Edit a user message: the transcript from it on is replaced by a new turn with the edited content',
      description: 'A running turn is interrupted first (the request waits up to 15 s for it to stop, else 409). '
        + 'The messages from the edited one on are deleted and the queue is emptied; the edited content becomes a '
        + 'new user message (a new id) and its turn starts. Stream clients get `queue_update`, `status` (pending) and '
        + '`message` events and should reload the message list. 409 also for a message that is not a user message.',
      tags: ['messages'],
      params: Type.Object({ id: Type.String(), messageId: Type.String() }),
      body: Type.Object({ content: Content }),
      response: { 200: Type.Object({ message: Message }), ...errorResponses },
    },
  }, async (request) => ({
    message: await editUserMessage(deps, request.user, request.params.id, request.params.messageId, request.body, options),
  }));
};
