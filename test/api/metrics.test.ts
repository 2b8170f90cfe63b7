import type net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestApi, TEST_ADMIN_TOKEN, type TestApi } from '../support/api.ts';

let api: TestApi;
let second: TestApi;
let base: string;

beforeAll(async () => {
  api = await createTestApi();
  // A second app in the same process: per-app registries must not clash.
  second = await createTestApi();
  await api.setupModel();
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(api.app.server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  await api?.close();
  await second?.close();
});

async function scrape(target = api): Promise<string> {
  const res = await target.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

/** Value of one sample line, e.g. sample(text, 'parley_sse_connections'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('serves Prometheus text without auth: process metrics and Parley metrics', async () => {
  const text = await scrape();
  expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
  expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  expect(text).toContain('# TYPE parley_http_requests_total counter');
  expect(text).toContain('# TYPE parley_http_request_duration_seconds histogram');
  expect(text).toContain('# TYPE parley_sse_connections gauge');
  expect(text).toContain('# TYPE parley_chats_by_status gauge');
  expect(text).not.toContain('"'.repeat(2) + '#'); // not JSON-encoded
  expect(await scrape(second)).toContain('parley_http_requests_total');
});

test('counts requests by method, route pattern and status, with durations', async () => {
  const chat = await api.request('POST', '/api/v1/chats', { body: { content: 'hi' } });
  expect(chat.status).toBe(201);
  await api.request('GET', `/api/v1/chats/${chat.body.chat.id}`);
  await api.request('GET', '/api/v1/chats/00000000-0000-4000-8000-000000000000');
  await api.request('GET', '/api/v1/chats', { token: null });
  await api.request('GET', '/no/such/route/12345');
  const text = await scrape();
  expect(sample(text, 'parley_http_requests_total{method="POST",route="/api/v1/chats",status="201"}')).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'parley_http_requests_total{method="GET",route="/api/v1/chats/:id",status="200"}')).toBe(1);
  expect(sample(text, 'parley_http_requests_total{method="GET",route="/api/v1/chats/:id",status="404"}')).toBe(1);
  expect(sample(text, 'parley_http_requests_total{method="GET",route="/api/v1/chats",status="401"}')).toBe(1);
  // Unmatched URLs share one series, so scanners can't create series.
  expect(text).not.toContain('12345');
  expect(sample(text, 'parley_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
  expect(sample(text, 'parley_http_request_duration_seconds_count{method="GET",route="/api/v1/chats/:id",status="200"}')).toBe(1);
  // The other app counted none of these.
  expect(await scrape(second)).not.toContain('route="/api/v1/chats/:id"');
});

test('parley_chats_by_status is read from PostgreSQL at scrape time', async () => {
  const { rows } = await api.db.pool.query(`SELECT count(*)::int AS n FROM chats WHERE status = 'pending'`);
  let text = await scrape();
  expect(sample(text, 'parley_chats_by_status{status="pending"}')).toBe(rows[0].n);
  expect(sample(text, 'parley_chats_by_status{status="error"}')).toBe(0);
  await api.db.pool.query(`UPDATE chats SET status = 'error'`);
  text = await scrape();
  expect(sample(text, 'parley_chats_by_status{status="pending"}')).toBe(0);
  expect(sample(text, 'parley_chats_by_status{status="error"}')).toBe(rows[0].n);
});

test('parley_sse_connections follows open streams (chat stream and watch)', async () => {
  const chat = await api.request('POST', '/api/v1/chats', { body: { content: 'stream me' } });
  const ac = new AbortController();
  const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const stream = await fetch(`${base}/api/v1/chats/${chat.body.chat.id}/stream`, { headers, signal: ac.signal });
  const watch = await fetch(`${base}/api/v1/chats/watch`, { headers, signal: ac.signal });
  expect([stream.status, watch.status]).toEqual([200, 200]);
  expect(sample(await scrape(), 'parley_sse_connections')).toBe(2);
  ac.abort();
  for (let i = 0; i < 50 && sample(await scrape(), 'parley_sse_connections') !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  const text = await scrape();
  expect(sample(text, 'parley_sse_connections')).toBe(0);
  // A stream is one request, counted when it opened; it is left out of the duration histogram.
  expect(sample(text, 'parley_http_requests_total{method="GET",route="/api/v1/chats/:id/stream",status="200"}')).toBe(1);
  expect(sample(text, 'parley_http_requests_total{method="GET",route="/api/v1/chats/watch",status="200"}')).toBe(1);
  expect(text).not.toContain('duration_seconds_count{method="GET",route="/api/v1/chats/watch"');
});

test('/metrics is in the OpenAPI document, without security', async () => {
  const doc = (await api.request('GET', '/api/v1/openapi.json')).body;
  expect(doc.paths['/metrics'].get.security).toEqual([]);
});
