import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createModel, deleteModel, getModel, listModels, updateModel } from '../../db/models.ts';
import { requireAdmin } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { allToolNames } from '../../tools/index.ts';
import { checkToolPolicy } from '../../tools/actions.ts';
import { notFound } from '../errors.ts';
import { errorResponses, IdParams, Model, Pricing, ToolPolicy } from '../schemas.ts';

const fields = {
  providerId: Type.String({ description: 'Id of an existing provider' }),
  model: Type.String({ minLength: 1, maxLength: 200, description: 'Model name sent to the provider' }),
  displayName: Type.Union([Type.String({ maxLength: 200 }), Type.Null()]),
  // Bounded well inside the int4 columns (and any real model): bigger numbers are typos, not models.
  contextLimit: Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Context window in tokens' }),
  compactionThresholdPercent: Type.Integer({ minimum: 1, maximum: 100, description: 'Compact the transcript beyond this share of the context (default 70)' }),
  maxOutputTokens: Type.Union([Type.Integer({ minimum: 1, maximum: 10_000_000 }), Type.Null()]),
  isDefault: Type.Boolean({ description: 'true makes this the default model (the previous default stops being it)' }),
  pricing: Type.Union([Pricing, Type.Null()]),
  options: Type.Record(Type.String(), Type.Unknown(), { description: 'Provider-specific options, e.g. temperature, reasoningEffort, thinking' }),
  toolPolicy: Type.Union([ToolPolicy, Type.Null()]),
};

export const modelRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const tags = ['models'];

  app.get('/models', {
    schema: { summary: 'List models', tags, response: { 200: Type.Object({ models: Type.Array(Model) }), ...errorResponses } },
  }, async () => ({ models: await listModels(deps.pool) }));

  app.get('/models/:id', {
    schema: { summary: 'Get a model', tags, params: IdParams, response: { 200: Type.Object({ model: Model }), ...errorResponses } },
  }, async (request) => {
    const model = await getModel(deps.pool, request.params.id);
    if (!model) throw notFound('model');
    return { model };
  });

  app.post('/models', {
    preValidation: requireAdmin,
    schema: {
      summary: 'Create a model (admin)',
      tags,
      body: Type.Object({
        providerId: fields.providerId,
        model: fields.model,
        contextLimit: fields.contextLimit,
        displayName: Type.Optional(fields.displayName),
        compactionThresholdPercent: Type.Optional(fields.compactionThresholdPercent),
        maxOutputTokens: Type.Optional(fields.maxOutputTokens),
        isDefault: Type.Optional(fields.isDefault),
        pricing: Type.Optional(fields.pricing),
        options: Type.Optional(fields.options),
        toolPolicy: Type.Optional(fields.toolPolicy),
      }),
      response: { 201: Type.Object({ model: Model }), ...errorResponses },
    },
  }, async (request, reply) => {
    checkToolPolicy(request.body.toolPolicy, allToolNames);
    const model = await createModel(deps.pool, request.body);
    return reply.code(201).send({ model });
  });

  app.patch('/models/:id', {
    preValidation: requireAdmin,
    schema: {
      summary: 'Update a model (admin)',
      tags,
      params: IdParams,
      body: Type.Partial(Type.Object(fields)),
      response: { 200: Type.Object({ model: Model }), ...errorResponses },
    },
  }, async (request) => {
    checkToolPolicy(request.body.toolPolicy, allToolNames);
    return { model: await updateModel(deps.pool, request.params.id, request.body) };
  });

  app.delete('/models/:id', {
    preValidation: requireAdmin,
    schema: { summary: 'Delete a model (admin); its chats fall back to the default model', tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    await deleteModel(deps.pool, request.params.id);
    return reply.code(204).send(null);
  });
};
