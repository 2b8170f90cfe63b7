import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createToken, createUser, deleteToken, getUser } from '../../db/users.ts';
import { requireAdmin } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { HttpError, notFound } from '../errors.ts';
import { errorResponses, IdParams, Role, User } from '../schemas.ts';
import type { StreamSessions } from '../stream-sessions.ts';

const Username = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description: '1-64 characters: letters, digits, `.`, `_`, `-`',
});
const TokenNote = 'Shown only once: store it now.';

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps; sessions?: StreamSessions }> = async (app, { deps, sessions }) => {
  app.post('/users', {
    preValidation: requireAdmin,
    schema: {
      summary: 'Create a user (admin)',
      tags: ['users'],
      body: Type.Object({ username: Username, role: Type.Optional(Role) }),
      response: { 201: Type.Object({ user: User, token: Type.String({ description: TokenNote }) }), ...errorResponses },
    },
  }, async (request, reply) => {
    const { user, token } = await createUser(deps.pool, { username: request.body.username, role: request.body.role ?? 'member' });
    return reply.code(201).send({ user, token });
  });

  app.get('/me', {
    schema: { summary: 'The calling user', tags: ['users'], response: { 200: Type.Object({ user: User }), ...errorResponses } },
  }, async (request) => {
    const user = await getUser(deps.pool, request.user.id);
    if (!user) throw notFound('user');
    return { user };
  });

  app.post('/tokens', {
    // The body is optional: a bare POST creates an unnamed token.
    preValidation: async (request) => { request.body ??= {}; },
    schema: {
      summary: 'Create another API token for the calling user',
      tags: ['users'],
      body: Type.Object({ name: Type.Optional(Type.String({ maxLength: 200 })) }),
      response: { 201: Type.Object({ id: Type.String({ format: 'uuid' }), token: Type.String({ description: TokenNote }) }), ...errorResponses },
    },
  }, async (request, reply) => {
    // Admins are trusted operators; a member's tokens are capped so one member can't fill the table.
    const max = request.user.role === 'admin' ? Number.MAX_SAFE_INTEGER : deps.config.maxTokensPerUser;
    const created = await createToken(deps.pool, request.user.id, request.body.name, max);
    if (!created) {
      throw new HttpError(409, 'too_many_tokens', `you already have ${max} API tokens, the most a member may have; revoke one you no longer use (DELETE /api/v1/tokens/:id)`);
    }
    return reply.code(201).send({ token: created.token, id: created.id });
  });

  app.delete('/tokens/:id', {
    schema: { summary: 'Revoke one of your tokens', tags: ['users'], params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (request, reply) => {
    if (!(await deleteToken(deps.pool, request.user.id, request.params.id))) throw notFound('token');
    // Its open streams end now here; other API processes notice at their next recheck.
    sessions?.revokeToken(request.params.id);
    return reply.code(204).send(null);
  });
};
