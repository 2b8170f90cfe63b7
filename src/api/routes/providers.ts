import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createSecretBox } from '../../crypto/secrets.ts';
import { createProvider, deleteProvider, getProvider, listProviders, updateProvider } from '../../db/providers.ts';
import { requireAdmin } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound } from '../errors.ts';
import { errorResponses, IdParams, Provider, ProviderType } from '../schemas.ts';

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: '1-64 characters: letters, digits, `.`, `_`, `-`' });
const BaseUrl = Type.String({ maxLength: 2000, description: 'Required for openai-compatible; optional override otherwise' });
const ApiKey = Type.String({ minLength: 1, maxLength: 10_000, description: 'Stored encrypted; never returned' });

export const providerRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  const secrets = createSecretBox(deps.config.secretKey);
  const tags = ['providers'];

  app.get('/providers', {
    preValidation: requireAdmin,
    schema: { summary: 'List providers (admin)', tags, response: { 200: Type.Object({ providers: Type.Array(Provider) }), ...errorResponses } },
  }, async () => ({ providers: await listProviders(deps.pool, deps.config) }));

  app.get('/providers/:id', {
    preValidation: requireAdmin,
    schema: { summary: 'Get a provider (admin)', tags, params: IdParams, response: { 200: Type.Object({ provider: Provider }), ...errorResponses } },
  }, async (request) => {
    const provider = await getProvider(deps.pool, deps.config, request.params.id);
    if (!provider) throw notFound('provider');
    return { provider };
  });

  app.post('/providers', {
    preValidation: requireAdmin,
    schema: {
      summary: 'Create a provider (admin)',
      tags,
      body: Type.Object({ name: Name, type: ProviderType, baseUrl: Type.Optional(BaseUrl), apiKey: Type.Optional(ApiKey) }),
      response: { 201: Type.Object({ provider: Provider }), ...errorResponses },
    },
  }, async (request, reply) => {
    const provider = await createProvider(deps.pool, deps.config, secrets, request.body);
    return reply.code(201).send({ provider });
  });

  app.patch('/providers/:id', {
    preValidation: requireAdmin,
    schema: {
      summary: 'Update a provider (admin); apiKey: null removes the stored key',
      tags,
      params: IdParams,
      body: Type.Object({
        name: Type.Optional(Name),
        type: Type.Optional(ProviderType),
        baseUrl: Type.Optional(Type.Union([BaseUrl, Type.Null()])),
        apiKey: Type.Optional(Type.Union([ApiKey, Type.Null()])),
      }),
      response: { 200: Type.Object({ provider: Provider }), ...errorResponses },
    },
  }, async (request) => ({
    provider: await updateProvider(deps.pool, deps.config, secrets, request.params.id, request.body),
  }));

  app.delete('/providers/:id', {
    preValidation: requireAdmin,
    schema: { summary: 'Delete a provider (admin); 409 while models use it', tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    await deleteProvider(deps.pool, request.params.id);
    return reply.code(204).send(null);
  });
};
