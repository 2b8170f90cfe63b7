// Prometheus metrics at GET /metrics, outside /api/v1 and without auth, like the health probes:
// scrapers are configured per deployment and an admin token in their config would be worth far more
// to an attacker than these numbers (request counts, chats per status). Keep the port internal, or
// block /metrics at the reverse proxy, when the API is exposed publicly.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiDeps } from '../deps.ts';
import type { SseStream } from '../sse.ts';
import { chatCountsByStatus } from '../../db/chats.ts';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route' | 'status'>;
  sseConnections: Gauge;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by installMetrics on the root instance (children inherit it); absent in bare test apps. */
    parleyMetrics?: ApiMetrics;
  }
}

// Process metrics describe the process, not an app: one registry for all apps in it (tests build many).
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const STATUSES = ['pending', 'running', 'waiting', 'error'] as const;
// Requests that matched no route are one series, whatever their URL (a scanner must not add series).
const UNMATCHED = 'unmatched';
// Streams are counted when they open and tracked by the gauge; their duration is the connection's.
const streaming = new WeakSet<FastifyRequest>();

const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? UNMATCHED;

/** Creates the app's metrics and records every request; call before routes are registered. */
export function installMetrics(app: FastifyInstance, deps: Pick<ApiDeps, 'pool'>): ApiMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'parley_http_requests_total',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP request duration (SSE streams excluded)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const sseConnections = new Gauge({
    name: 'parley_sse_connections',
    help: 'Open server-sent event streams (chat streams and chat-list watches)',
    registers: [registry],
  });
  new Gauge({
    name: 'parley_chats_by_status',
    help: 'Chats per status, read from PostgreSQL at scrape time',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = await chatCountsByStatus(deps.pool);
      this.reset();
      for (const status of STATUSES) this.set({ status }, 0);
      for (const { status, n } of counts) this.set({ status }, n);
    },
  });

  const metrics: ApiMetrics = { registry, requests, duration, sseConnections };
  app.decorate('parleyMetrics', metrics);
  app.addHook('onResponse', async (request, reply) => {
    if (streaming.has(request)) return;
    const labels = { method: request.method, route: routeOf(request), status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
  return metrics;
}

/** Counts an SSE stream (the request once, the gauge while it is open). */
export function trackSse(request: FastifyRequest, stream: SseStream): void {
  const metrics = request.server.parleyMetrics;
  if (!metrics || streaming.has(request)) return;
  streaming.add(request);
  metrics.requests.inc({ method: request.method, route: routeOf(request), status: '200' });
  metrics.sseConnections.inc();
  stream.onClose(() => metrics.sseConnections.dec());
}

export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: ApiMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', {
    config: { rateLimit: false },
    schema: {
      summary: 'Prometheus metrics (text exposition format; no auth: keep it off public networks)',
      description: 'Process metrics, `parley_http_requests_total{method,route,status}`, '
        + '`parley_http_request_duration_seconds`, `parley_sse_connections`, `parley_chats_by_status{status}`.',
      tags: ['health'],
      security: [],
      produces: ['text/plain'],
      response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }) },
    },
  }, async (_request, reply) => {
    const text = (await processMetrics().metrics()) + (await metrics.registry.metrics());
    return reply.type(metrics.registry.contentType).send(text);
  });
};
