// Bearer-token authentication for /api/v1. Runs at preParsing, before the body is read, so anonymous
// clients can't make the server parse large bodies. Failed attempts are throttled per client address
// (FailedLogins); the rate limiter then counts the authenticated user's requests (app.ts).
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

/**
 * Failed authentications per client address in a fixed window. The rate limiter counts requests per
 * user, which it knows only after authentication; without this, every made-up token would be one
 * more database lookup and one more 401, unthrottled.
 */
export class FailedLogins {
  private readonly counts = new Map<string, { n: number; windowEnds: number }>();
  private readonly max: number;
  private readonly windowMs: number;
  private static readonly MAX_ADDRESSES = 100_000;

  constructor(max: number, windowMs: number) {
    this.max = max;
    this.windowMs = windowMs;
  }
  /** Throws 429 when `address` has failed `max` times in the current window. */
  check(address: string): void {
    const e = this.counts.get(address);
    if (e === undefined || e.windowEnds <= Date.now() || e.n < this.max) return;
    const seconds = Math.ceil((e.windowEnds - Date.now()) / 1000);
    throw new HttpError(429, 'rate_limited', `too many failed authentications from this address; retry in ${seconds} s`, { 'retry-after': String(seconds) });
  }
  record(address: string): void {
    const now = Date.now();
    const e = this.counts.get(address);
    if (e !== undefined && e.windowEnds > now) {
      e.n++;
      return;
    }
    if (this.counts.size >= FailedLogins.MAX_ADDRESSES) {
      for (const [k, v] of this.counts) if (v.windowEnds <= now) this.counts.delete(k);
      if (this.counts.size >= FailedLogins.MAX_ADDRESSES) this.counts.delete(this.counts.keys().next().value!);
    }
    this.counts.set(address, { n: 1, windowEnds: now + this.windowMs });
  }
}

/**
 * Requires a valid token on every route of `app` (an encapsulated context) and sets request.user.
 * With `failures`, an address that keeps failing is refused (429) before its token is looked up.
 */
export function registerAuth(app: FastifyInstance, pool: Pool, failures?: FailedLogins): void {
  app.decorateRequest('user', null as unknown as AuthUser);
  app.addHook('preParsing', async (request) => {
    failures?.check(request.ip);
    try {
      request.user = await authenticateRequest(pool, request);
    } catch (err) {
      if (err instanceof HttpError && err.statusCode === 401) failures?.record(request.ip);
      throw err;
    }
  });
}

/** Route hook for admin-only routes (runs after authentication). */
export async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (request.user?.role !== 'admin') throw forbidden();
}
