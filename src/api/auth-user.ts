import type {} from 'fastify';
import type { AuthUser } from '../shared/types.ts';

export type { AuthUser } from '../shared/types.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /api/v1 route. */
    user: AuthUser;
  }
}
