// The HTTP API: a fastify app with TypeBox-typed routes under /api/v1, bearer-token auth, one error
// shape `{error: {code, message}}`, rate limiting, an OpenAPI document and health probes.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { FailedLogins, registerAuth } from './auth.ts';
import type { ApiDeps } from './deps.ts';
import { asHttpError, HttpError, type ErrorBody, type ErrorDetails } from './errors.ts';
import { StreamSessions } from './stream-sessions.ts';
import { actionRoutes } from './routes/actions.ts';
import { chatRoutes } from './routes/chats.ts';
import { editRoutes } from './routes/edit.ts';
import { forkRoutes } from './routes/fork.ts';
import { healthRoutes } from './routes/health.ts';
import { installMetrics, metricsRoutes } from './routes/metrics.ts';
import { messageRoutes } from './routes/messages.ts';
import { modelRoutes } from './routes/models.ts';
import { providerRoutes } from './routes/providers.ts';
import { queueRoutes } from './routes/queue.ts';
import { streamRoutes } from './routes/stream.ts';
import { usageRoutes } from './routes/usage.ts';
import { userRoutes } from './routes/users.ts';
import { watchRoutes } from './routes/watch.ts';

export const API_PREFIX = '/api/v1';

export interface ApiOptions {
  /**
   * Requests per time window per user (per client address for requests without one, and for failed
   * authentications); false disables.
   * Default: 600 per minute, far above what an interactive client does.
   */
  rateLimit?: { max: number; timeWindowMs: number } | false;
  /** How often open streams' tokens are looked up again (default 15 s; tests shorten it). */
  streamRecheckMs?: number;
}

const DEFAULT_RATE_LIMIT = { max: 600, timeWindowMs: 60_000 };

const errorBody = (code: string, message: string, details: ErrorDetails = {}): ErrorBody => ({ error: { code, message, ...details } });

/** Maps fastify's own client errors (body parsing, validation) to the API's error codes. */
const FASTIFY_ERRORS: Record<string, { status: number; code: string; message?: (err: FastifyError, limit: number) => string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', message: () => 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: () => 'the request body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: (_e, limit) => `the request body exceeds ${limit} bytes` },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: () => 'send the request body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request' },
};

function handleError(bodyLimit: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const http = asHttpError(err);
    if (http) {
      if (http.statusCode >= 500) request.log.warn({ err: http.cause ?? http }, http.message);
      return reply.code(http.statusCode).headers(http.headers).send(errorBody(http.code, http.message, http.details));
    }
    if (err.validation) return reply.code(400).send(errorBody('bad_request', err.message));
    const known = err.code ? FASTIFY_ERRORS[err.code] : undefined;
    if (known) return reply.code(known.status).send(errorBody(known.code, known.message?.(err, bodyLimit) ?? err.message));
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody('bad_request', err.message));
    }
    // Unexpected: log everything, tell the client nothing about internals.
    request.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error', 'internal server error'));
  };
}

/**
 * Node's HTTP parser refuses some requests before fastify sees them (headers or URL past its 16 KB
 * limit, a broken request line): answered on the socket in the API's error shape.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'headers_too_large', 'the request headers (or the URL) are larger than the server accepts (16 KB)']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request took too long to arrive']
      : [400, 'bad_request', 'the request is not valid HTTP'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** Where in a parsed JSON value a string (or key) contains NUL, e.g. `body.options.stop[1]`; undefined if nowhere. */
function nulPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\0')) return `a key in ${path}`;
      const found = nulPath(v, `${path}.${k}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export async function buildApi(deps: ApiDeps, options: ApiOptions = {}): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // Close idle keep-alive sockets on shutdown too: SSE clients leave spare ones that would hold
    // app.close() for the keep-alive timeout.
    forceCloseConnections: true,
    // Errors fastify answers before any route or hook runs get the API's one error shape too.
    frameworkErrors: (err, _request, reply: FastifyReply) => {
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void reply.code(long ? 414 : 400).send(errorBody(long ? 'uri_too_long' : 'bad_request',
        long ? 'a path segment of the URL is too long (ids are at most 100 characters)' : 'the URL is malformed'));
    },
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // TypeBox's compiler: bodies are checked strictly ({content: 1} is an error, not "1"), while
  // querystrings and params are converted (?limit=5 is a number).
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  // An empty body with a JSON content type (curl -H 'content-type: application/json' -X POST)
  // counts as no body rather than a parse error; routes whose body is optional accept it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    parseJson(request, body as string, done);
  });
  // PostgreSQL text can't hold NUL: names, URLs, options and query strings with one are refused here,
  // saying where, instead of failing as a 500 in the database. Chat text (messages, titles) is the
  // exception: a pasted NUL is kept as U+FFFD (db/json.ts storableText), routes mark it `chatText`.
  app.addHook('preValidation', async (request) => {
    if (/%00|\0/i.test(request.url)) throw new HttpError(400, 'bad_request', 'the URL contains a NUL character (%00)');
    if ((request.routeOptions.config as { chatText?: boolean } | undefined)?.chatText) return;
    const at = nulPath(request.body, 'body');
    if (at !== undefined) throw new HttpError(400, 'bad_request', `${at} contains a NUL character (\\u0000), which text may not contain`);
  });

  app.setErrorHandler(handleError(config.bodyLimitBytes));
  // Before any route, so its hooks see every request.
  const metrics = installMetrics(app, deps);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `route ${request.method} ${request.url.split('?')[0]} not found`)));

  const limit = options.rateLimit === undefined ? DEFAULT_RATE_LIMIT : options.rateLimit;
  const sessions = new StreamSessions(deps.pool, { maxPerUser: config.maxStreamsPerUser, recheckMs: options.streamRecheckMs ?? 15_000 });
  app.addHook('onClose', async () => sessions.stop());
  if (limit) {
    await app.register(rateLimit, {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      // After authentication (preHandler), so requests count per user, whichever of their tokens
      // they use; requests without a user (probes, docs) per client address. Failed
      // authentications are throttled per address before that (FailedLogins in auth.ts).
      hook: 'preHandler',
      keyGenerator: (request) => {
        const user = (request as { user?: { id: string } | null }).user;
        return user ? `u:${user.id}` : `ip:${request.ip}`;
      },
      errorResponseBuilder: (_request, ctx) =>
        new HttpError(429, 'rate_limited', `too many requests: at most ${ctx.max} per ${ctx.after.replace(/^1 /, '')}; retry later`),
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Parley API', version: '1', description: 'Durable AI-agent chats. Authenticate with `Authorization: Bearer <token>`.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: `${API_PREFIX}/docs` });
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { deps });
  await app.register(metricsRoutes, { metrics });
  await app.register(async (api) => {
    registerAuth(api, deps.pool, limit ? new FailedLogins(limit.max, limit.timeWindowMs) : undefined);
    await api.register(userRoutes, { deps, sessions });
    await api.register(providerRoutes, { deps });
    await api.register(modelRoutes, { deps });
    await api.register(chatRoutes, { deps });
    await api.register(messageRoutes, { deps });
    await api.register(queueRoutes, { deps });
    await api.register(actionRoutes, { deps });
    await api.register(streamRoutes, { deps, sessions });
    await api.register(editRoutes, { deps });
    await api.register(forkRoutes, { deps });
    await api.register(watchRoutes, { deps, sessions });
    await api.register(usageRoutes, { deps });
  }, { prefix: API_PREFIX });

  return app;
}
