// Bearer-token authentication for /api/v1. Runs at preParsing: after the rate limiter (onRequest),
// so token guessing is throttled, and before the body is read, so anonymous clients can't make the
// server parse large bodies.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate } from '../db/users.ts';
import type { Pool } from '../db/pool.ts';
import type { AuthUser } from './auth-user.ts';
import { forbidden, HttpError } from './errors.ts';

const unauthorized = (message: string) =>
  new HttpError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer realm="parley"' });

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1] ?? null;
}

/** Resolves the request's user from its bearer token, or throws 401. */
export async function authenticateRequest(pool: Pool, request: FastifyRequest): Promise<AuthUser> {
  const token = bearerToken(request.headers.authorization);
  if (!token) throw unauthorized('missing bearer token: send Authorization: Bearer <token>');
  const user = await authenticate(pool, token);
  if (!user) throw unauthorized('invalid or revoked token');
  return user;
}

/** Requires a valid token on every route of `app` (an encapsulated context) and sets request.user. */
export function registerAuth(app: FastifyInstance, pool: Pool): void {
  app.decorateRequest('user', null as unknown as AuthUser);
  app.addHook('preParsing', async (request) => {
    request.user = await authenticateRequest(pool, request);
  });
}

/** Route hook for admin-only routes (runs after authentication). */
export async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (request.user?.role !== 'admin') throw forbidden();
}
