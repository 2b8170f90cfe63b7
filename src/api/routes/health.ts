import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiDeps } from '../deps.ts';
import { ping } from '../../db/pool.ts';

// A dependency that hangs (unreachable host, full pool) must fail the probe, not hang it.
const CHECK_TIMEOUT_MS = 3_000;

async function check(fn: () => Promise<unknown>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS); }),
    ]);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

const Check = Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) });

/** Liveness and readiness probes (no auth, no rate limit: orchestrators call them constantly). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', {
    config: { rateLimit: false },
    schema: { summary: 'Liveness: the process serves HTTP', tags: ['health'], response: { 200: Type.Object({ ok: Type.Boolean() }) } },
  }, async () => ({ ok: true }));

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      summary: 'Readiness: PostgreSQL and Temporal answer',
      tags: ['health'],
      response: {
        '2xx': Type.Object({ ok: Type.Boolean(), checks: Type.Object({ postgres: Check, temporal: Check }) }),
        503: Type.Object({
          ok: Type.Boolean(),
          checks: Type.Object({ postgres: Check, temporal: Check }),
          error: Type.Object({ code: Type.String(), message: Type.String() }),
        }),
      },
    },
  }, async (_request, reply) => {
    const [pg, temporal] = await Promise.all([check(() => ping(deps.pool)), check(() => deps.temporalHealth())]);
    const checks = {
      postgres: pg ? { ok: false, error: pg } : { ok: true },
      temporal: temporal ? { ok: false, error: temporal } : { ok: true },
    };
    if (!pg && !temporal) return reply.code(200).send({ ok: true, checks });
    const failed = [pg && `postgres (${pg})`, temporal && `temporal (${temporal})`].filter(Boolean).join(', ');
    return reply.code(503).send({ ok: false, checks, error: { code: 'not_ready', message: `not ready: ${failed}` } });
  });
};
