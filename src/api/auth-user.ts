import type {} from 'fastify';

export interface AuthUser {
  id: string;
  username: string;
  role: 'admin' | 'member';
  /** The token this request authenticated with. */
  tokenId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every /api/v1 route. */
    user: AuthUser;
  }
}
