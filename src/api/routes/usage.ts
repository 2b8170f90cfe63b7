import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { usageReport, type UsageGroupBy } from '../../db/usage.ts';
import { getUser } from '../../db/users.ts';
import type { ApiDeps } from '../deps.ts';
import { badRequest, forbidden, notFound } from '../errors.ts';
import { errorResponses, Usage } from '../schemas.ts';

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;

// A message's token counts, summed, and their cost.
const Sums = {
  ...Usage.properties,
  costMicros: Type.Integer({ description: 'Cost in millionths of the pricing currency' }),
};

const UsageReport = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  groupBy: Type.Enum(['chat', 'model', 'day']),
  totals: Type.Object(Sums),
  groups: Type.Array(Type.Object({
    key: Type.String({ description: 'Chat id, model name (`unknown` when not recorded), or UTC day YYYY-MM-DD' }),
    ...Sums,
  })),
});

// A calendar date or a date-time with an explicit offset: a bare local time would depend on the server's zone.
const DATE_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

/** Date.parse rolls 2025-02-30 over to March; a calendar date that doesn't exist is an error here. */
function realDay(s: string): boolean {
  const [y, m, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function parseDate(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const s = raw.trim();
  const t = DATE_RE.test(s) && realDay(s) ? Date.parse(s) : NaN;
  if (Number.isNaN(t)) throw badRequest(`${name} must be an ISO 8601 date (2025-01-31) or date-time with offset (2025-01-31T12:00:00Z)`);
  return new Date(t);
}

export const usageRoutes: FastifyPluginAsyncTypebox<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/usage', {
    schema: {
      summary: 'Tokens and cost of your chats (admins: of any user)',
      description: 'Sums over assistant messages created in [from, to). Default range: the last 30 days. '
        + 'Usage of deleted chats is not kept; fork copies count once, at the original.',
      tags: ['usage'],
      querystring: Type.Object({
        from: Type.Optional(Type.String({ description: 'Inclusive; ISO 8601 date or date-time. Default: `to` - 30 days' })),
        to: Type.Optional(Type.String({ description: 'Exclusive; ISO 8601 date or date-time. Default: now' })),
        groupBy: Type.Optional(Type.Enum(['chat', 'model', 'day'], { default: 'day' })),
        userId: Type.Optional(Type.String({ description: 'Admins only (403 for members, except their own id)' })),
      }),
      response: { 200: UsageReport, ...errorResponses },
    },
  }, async (request) => {
    const { user } = request;
    const userId = request.query.userId ?? user.id;
    if (userId !== user.id) {
      if (user.role !== 'admin') throw forbidden('only admins can see the usage of other users');
      if (!(await getUser(deps.pool, userId))) throw notFound('user');
    }
    const to = parseDate('to', request.query.to) ?? new Date();
    const from = parseDate('from', request.query.from) ?? new Date(to.getTime() - DEFAULT_DAYS * DAY_MS);
    if (from > to) throw badRequest('from must not be after to');
    const groupBy: UsageGroupBy = request.query.groupBy ?? 'day';
    return usageReport(deps.pool, userId, { from, to }, groupBy);
  });
};
