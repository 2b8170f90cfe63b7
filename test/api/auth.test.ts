// Authentication, users and tokens, and the app-wide behaviour: error shapes, limits, docs, probes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApi } from '../../src/api/app.ts';
import { HttpError } from '../../src/api/errors.ts';
import { createTestApi, type TestApi } from '../support/api.ts';

let api: TestApi;

beforeAll(async () => { api = await createTestApi(); });
afterAll(async () => { await api?.close(); });

describe('authentication', () => {
  test('every /api/v1 route needs a valid bearer token (401 with the error shape)', async () => {
    for (const [method, url] of [['GET', '/api/v1/me'], ['GET', '/api/v1/chats'], ['POST', '/api/v1/chats'], ['GET', '/api/v1/models'], ['GET', `/api/v1/chats/${randomUUID()}/stream`]]) {
      const res = await api.request(method!, url!, { token: null });
      expect(res.status, `${method} ${url}`).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect((await api.request('GET', '/api/v1/me', { token: 'prl_not-a-real-token' })).status).toBe(401);
    expect((await api.request('GET', '/api/v1/me', { token: null, headers: { authorization: 'Basic YWRtaW46eA==' } })).status).toBe(401);
  });

  test('the admin token from the environment works', async () => {
    const me = await api.request('GET', '/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(me.body.user.createdAt).toMatch(/^\d{4}-/);
  });
});

describe('users and tokens', () => {
  test('admin creates users; the returned token works; usernames are unique', async () => {
    const res = await api.request('POST', '/api/v1/users', { body: { username: 'dave' } });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ username: 'dave', role: 'member' });
    expect(res.body.token).toMatch(/^prl_[A-Za-z0-9_-]{43}$/);
    const me = await api.request('GET', '/api/v1/me', { token: res.body.token });
    expect(me.body.user).toEqual(res.body.user);
    const { rows } = await api.db.pool.query('SELECT token_hash FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = $1', ['dave']);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);

    const dup = await api.request('POST', '/api/v1/users', { body: { username: 'dave', role: 'admin' } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');

    const adm = await api.request('POST', '/api/v1/users', { body: { username: 'erin', role: 'admin' } });
    expect(adm.body.user.role).toBe('admin');
    // The new admin can administer.
    expect((await api.request('GET', '/api/v1/providers', { token: adm.body.token })).status).toBe(200);
  });

  test('members get 403 on admin routes; bad input is 400 naming the field', async () => {
    const { token } = await api.createMember();
    const res = await api.request('POST', '/api/v1/users', { body: { username: 'mallory' }, token });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    const bad = await api.request('POST', '/api/v1/users', { body: { username: 'x y' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^body\/username /);
    const badRole = await api.request('POST', '/api/v1/users', { body: { username: 'frank', role: 'root' } });
    expect(badRole.status).toBe(400);
    expect(badRole.body.error.message).toMatch(/^body\/role /);
  });

  test('a user creates and revokes their own tokens', async () => {
    const { token, user } = await api.createMember();
    const created = await api.request('POST', '/api/v1/tokens', { token });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ token: expect.stringMatching(/^prl_/), id: expect.any(String) });
    const named = await api.request('POST', '/api/v1/tokens', { body: { name: 'laptop' }, token });
    expect(named.status).toBe(201);
    expect((await api.request('GET', '/api/v1/me', { token: created.body.token })).body.user.id).toBe(user.id);

    // Someone else's token is not theirs to delete.
    const other = await api.createMember();
    expect((await api.request('DELETE', `/api/v1/tokens/${created.body.id}`, { token: other.token })).status).toBe(404);
    expect((await api.request('DELETE', '/api/v1/tokens/not-a-uuid', { token })).status).toBe(404);

    const del = await api.request('DELETE', `/api/v1/tokens/${created.body.id}`, { token });
    expect(del.status).toBe(204);
    expect((await api.request('GET', '/api/v1/me', { token: created.body.token })).status).toBe(401);
    expect((await api.request('GET', '/api/v1/me', { token })).status).toBe(200);
  });
});

describe('errors', () => {
  test('unknown route: 404 with the error shape', async () => {
    const res = await api.request('GET', '/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect((await api.request('GET', '/nope', { token: null })).status).toBe(404);
  });

  test('malformed JSON: 400; wrong content type: 415', async () => {
    const res = await api.request('POST', '/api/v1/chats', { rawBody: '{"content": ' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    const text = await api.request('POST', '/api/v1/chats', { rawBody: 'hello', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('unsupported_media_type');
  });

  test('body larger than the configured limit: 413', async () => {
    const small = await createTestApi({ env: { PARLEY_BODY_LIMIT_BYTES: '1024' } });
    try {
      const res = await small.request('POST', '/api/v1/chats', { body: { content: 'x'.repeat(2000) } });
      expect(res.status).toBe(413);
      expect(res.body.error).toEqual({ code: 'payload_too_large', message: 'the request body exceeds 1024 bytes' });
    } finally {
      await small.close();
    }
  });

  test('unexpected errors: 500 with a generic message', async () => {
    const app = await buildApi(api.deps, { rateLimit: false });
    app.get('/boom', async () => { throw new Error('secret internal detail'); });
    app.get('/teapot', async () => { throw new HttpError(418, 'teapot', 'short and stout', { 'x-extra': '1' }); });
    try {
      const res = await app.inject({ method: 'GET', url: '/boom' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'internal_error', message: 'internal server error' } });
      const tea = await app.inject({ method: 'GET', url: '/teapot' });
      expect(tea.statusCode).toBe(418);
      expect(tea.headers['x-extra']).toBe('1');
      expect(tea.json()).toEqual({ error: { code: 'teapot', message: 'short and stout' } });
    } finally {
      await app.close();
    }
  });

  test('rate limit: 429 with Retry-After, per user', async () => {
    const limited = await createTestApi({ api: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    try {
      const { token } = await limited.createMember();
      const second = (await limited.request('POST', '/api/v1/tokens', { token, body: {} })).body.token as string;
      expect((await limited.request('GET', '/api/v1/me', { token })).status).toBe(200);
      expect((await limited.request('GET', '/api/v1/me', { token })).status).toBe(200);
      // The user's other token shares the budget (three requests so far, the token creation included).
      const res = await limited.request('GET', '/api/v1/me', { token: second });
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('rate_limited');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // Another user has their own budget; probes are never limited.
      expect((await limited.request('GET', '/api/v1/me')).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await limited.request('GET', '/healthz', { token: null })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('tokens nobody was given', () => {
  test('made-up tokens are throttled per client address, not each with a budget of its own', async () => {
    const limited = await createTestApi({ api: { rateLimit: { max: 5, timeWindowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await limited.request('GET', '/api/v1/me', { token: `prl_made_up_${i}` })).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual(Array(7).fill(429));
      const res = await limited.request('GET', '/api/v1/me', { token: 'prl_another' });
      expect(res.body.error.message).toMatch(/too many failed authentications from this address; retry in \d+ s/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // Requests without any token count as failures too.
      expect((await limited.request('GET', '/api/v1/me', { token: null })).status).toBe(429);
    } finally {
      await limited.close();
    }
  });

  test('a member may hold PARLEY_MAX_TOKENS_PER_USER tokens; an admin is not capped', async () => {
    const capped = await createTestApi({ env: { PARLEY_MAX_TOKENS_PER_USER: '3' }, api: { rateLimit: false } });
    try {
      const { token } = await capped.createMember(); // its first token
      expect((await capped.request('POST', '/api/v1/tokens', { token, body: {} })).status).toBe(201);
      const third = await capped.request('POST', '/api/v1/tokens', { token, body: { name: 'ci' } });
      expect(third.status).toBe(201);
      const refused = await capped.request('POST', '/api/v1/tokens', { token, body: {} });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toEqual({ code: 'too_many_tokens', message: expect.stringMatching(/already have 3 API tokens.*revoke one/) });
      // Revoking one makes room again.
      expect((await capped.request('DELETE', `/api/v1/tokens/${third.body.id}`, { token })).status).toBe(204);
      expect((await capped.request('POST', '/api/v1/tokens', { token, body: {} })).status).toBe(201);
      for (let i = 0; i < 4; i++) expect((await capped.request('POST', '/api/v1/tokens', { body: {} })).status).toBe(201);
    } finally {
      await capped.close();
    }
  });
});

describe('probes and docs', () => {
  test('healthz and readyz', async () => {
    expect((await api.request('GET', '/healthz', { token: null })).body).toEqual({ ok: true });
    const ready = await api.request('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body.ok).toBe(true);

    const original = api.deps.temporalHealth;
    api.deps.temporalHealth = async () => { throw new Error('connection refused'); };
    try {
      const res = await api.request('GET', '/readyz', { token: null });
      expect(res.status).toBe(503);
      expect(res.body.ok).toBe(false);
      expect(res.body.checks).toEqual({ postgres: { ok: true }, temporal: { ok: false, error: 'connection refused' } });
      expect(res.body.error.message).toMatch(/temporal/);
    } finally {
      api.deps.temporalHealth = original;
    }
  });

  test('OpenAPI document and docs UI, without auth', async () => {
    const res = await api.request('GET', '/api/v1/openapi.json', { token: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    for (const path of ['/api/v1/chats', '/api/v1/chats/{id}/messages', '/api/v1/models', '/api/v1/providers', '/api/v1/users']) {
      expect(Object.keys(res.body.paths)).toContain(path);
    }
    expect(Object.keys(res.body.paths)).not.toContain('/api/v1/openapi.json');
    const docs = await api.app.inject({ method: 'GET', url: '/api/v1/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/html/);
  });
});
