import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createChat, deleteChat, interruptChat, requestCompaction } from '../../chats/service.ts';
import { getChatWithQueue, listChats, MAX_CHAT_PAGE, updateChat } from '../../db/chats.ts';
import type { ApiDeps } from '../deps.ts';
import { allToolNames } from '../../tools/index.ts';
import { checkToolPolicy } from '../../tools/actions.ts';
import { pendingActions } from '../../db/actions.ts';
import { idempotencyClaim } from '../../chats/idempotency.ts';
import { Chat, Content, errorResponses, IdempotencyHeaders, IdParams, Message, PendingAction, QueuedMessage, ToolPolicy } from '../schemas.ts';

export const chatRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const tags = ['chats'];

  app.post('/chats', {
    config: { chatText: true },
    schema: {
      summary: 'Create a chat with its first message; the first turn starts right away',
      tags,
      headers: IdempotencyHeaders,
      body: Type.Object({
        content: Content,
        modelId: Type.Optional(Type.String({ description: 'Default: the default model' })),
        title: Type.Optional(Type.String({ maxLength: 200, description: 'Default: the first words of the message' })),
        toolPolicy: Type.Optional(Type.Union([ToolPolicy, Type.Null()], { description: 'Default: the model\'s' })),
      }),
      response: { 201: Type.Object({ chat: Chat, message: Message }), ...errorResponses },
    },
  }, async (request, reply) => {
    checkToolPolicy(request.body.toolPolicy, allToolNames);
    const claim = idempotencyClaim(request.user.id, request.headers['idempotency-key'], { method: 'POST', route: '/chats', body: request.body });
    const result = await createChat(deps, request.user, request.body, claim);
    return reply.code(201).send(result);
  });

  app.get('/chats', {
    schema: {
      summary: 'Your chats, newest first: top-level chats and forks (not sub-agents) unless parentId or all is given',
      tags,
      querystring: Type.Object({
        archived: Type.Optional(Type.Boolean({ default: false })),
        parentId: Type.Optional(Type.String({ format: 'uuid', description: 'Only the chats made from this one: its sub-agents and forks' })),
        all: Type.Optional(Type.Boolean({ default: false, description: 'Every chat, sub-agents included' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_CHAT_PAGE, default: 50 })),
        cursor: Type.Optional(Type.String({ description: 'nextCursor of the previous page' })),
      }),
      response: { 200: Type.Object({ chats: Type.Array(Chat), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses },
    },
  }, async (request) => listChats(deps.pool, request.user.id, {
    archived: request.query.archived ?? false,
    limit: request.query.limit ?? 50,
    cursor: request.query.cursor,
    parentId: request.query.parentId,
    all: request.query.all ?? false,
  }));

  app.get('/chats/:id', {
    schema: {
      summary: 'A chat, its queued messages and the actions its paused turn waits for',
      tags,
      params: IdParams,
      response: { 200: Type.Object({ chat: Chat, queue: Type.Array(QueuedMessage), pendingActions: Type.Array(PendingAction) }), ...errorResponses },
    },
  }, async (request) => {
    const { chat, queue } = await getChatWithQueue(deps.pool, request.user.id, request.params.id);
    return { chat, queue, pendingActions: await pendingActions(deps.pool, chat.id) };
  });

  app.patch('/chats/:id', {
    config: { chatText: true },
    schema: {
      summary: 'Rename or (un)archive a chat, or set its tool policy (null: its model\'s)',
      tags,
      params: IdParams,
      body: Type.Object({
        title: Type.Optional(Type.String({ maxLength: 200 })),
        archived: Type.Optional(Type.Boolean()),
        toolPolicy: Type.Optional(Type.Union([ToolPolicy, Type.Null()])),
      }),
      response: { 200: Type.Object({ chat: Chat }), ...errorResponses },
    },
  }, async (request) => {
    checkToolPolicy(request.body.toolPolicy, allToolNames);
    return { chat: await updateChat(deps.pool, deps.events, request.user.id, request.params.id, request.body) };
  });

  app.delete('/chats/:id', {
    schema: { summary: 'Delete a chat (its running turn is cancelled)', tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    await deleteChat(deps, request.user.id, request.params.id);
    return reply.code(204).send(null);
  });

  app.post('/chats/:id/interrupt', {
    // The body is optional: a bare POST interrupts without a reason.
    preValidation: async (request) => { request.body ??= {}; },
    schema: {
      summary: 'Interrupt the running turn',
      tags,
      params: IdParams,
      body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }),
      response: { 202: Type.Object({ interrupted: Type.Boolean({ description: 'false when the chat had no pending or running turn' }) }), ...errorResponses },
    },
  }, async (request, reply) => {
    const interrupted = await interruptChat(deps, request.user, request.params.id, request.body.reason);
    return reply.code(202).send({ interrupted });
  });

  app.post('/chats/:id/compact', {
    schema: {
      summary: 'Compact an idle chat\'s context now (summarise earlier messages; they are kept, marked compressed)',
      tags,
      params: IdParams,
      response: { 202: Type.Object({ compacting: Type.Literal(true) }), ...errorResponses },
    },
  }, async (request, reply) => {
    await requestCompaction(deps, request.user, request.params.id);
    return reply.code(202).send({ compacting: true as const });
  });
};
