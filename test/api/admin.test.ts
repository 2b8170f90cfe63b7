// Providers and models: admin writes, encryption of provider keys at rest, env providers, defaults.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { getProviderConnection } from '../../src/db/providers.ts';
import { createTestApi, TEST_SECRET_KEY, type TestApi, type Json } from '../support/api.ts';

let api: TestApi;
let member: { token: string };

beforeAll(async () => {
  api = await createTestApi();
  member = await api.createMember('carol');
});
afterAll(async () => { await api?.close(); });

const createProvider = (body: Record<string, unknown>, token?: string) =>
  api.request('POST', '/api/v1/providers', { body, ...(token ? { token } : {}) });

describe('providers', () => {
  test('create stores the key encrypted and never returns it', async () => {
    const res = await createProvider({ name: 'openai-main', type: 'openai', apiKey: 'sk-very-secret-123' });
    expect(res.status).toBe(201);
    const p = res.body.provider;
    expect(p).toMatchObject({ name: 'openai-main', type: 'openai', baseUrl: null, hasApiKey: true, source: 'api' });
    expect(Object.keys(p).sort()).toEqual(['baseUrl', 'createdAt', 'hasApiKey', 'id', 'name', 'source', 'type', 'updatedAt']);
    expect(JSON.stringify(res.body)).not.toContain('sk-very-secret');

    const { rows } = await api.db.pool.query('SELECT api_key_enc FROM providers WHERE id = $1', [p.id]);
    expect(rows[0].api_key_enc).toMatch(/^v1:/);
    expect(rows[0].api_key_enc).not.toContain('sk-very-secret');

    const list = await api.request('GET', '/api/v1/providers');
    expect(list.status).toBe(200);
    expect(list.body.providers.map((x: Json) => x.name)).toContain('openai-main');
    expect(JSON.stringify(list.body)).not.toContain('sk-very-secret');
    expect((await api.request('GET', `/api/v1/providers/${p.id}`)).body.provider).toEqual(p);

    const conn = await getProviderConnection(api.db.pool, api.deps.config, createSecretBox(TEST_SECRET_KEY), p.id);
    expect(conn).toEqual({ type: 'openai', name: 'openai-main', baseUrl: null, apiKey: 'sk-very-secret-123' });
  });

  test('validation and conflicts', async () => {
    await createProvider({ name: 'dup', type: 'anthropic', apiKey: 'k' });
    const dup = await createProvider({ name: 'dup', type: 'anthropic', apiKey: 'k' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');

    const badType = await createProvider({ name: 'x', type: 'gemini' });
    expect(badType.status).toBe(400);
    expect(badType.body.error.message).toMatch(/^body\/type /);
    const noUrl = await createProvider({ name: 'local', type: 'openai-compatible' });
    expect(noUrl.status).toBe(400);
    expect(noUrl.body.error.message).toBe('baseUrl is required for openai-compatible providers');
    const badUrl = await createProvider({ name: 'local', type: 'openai-compatible', baseUrl: 'not a url' });
    expect(badUrl.status).toBe(400);
    const badName = await createProvider({ name: 'has space', type: 'openai' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/^body\/name /);
  });

  test('patch: rename, replace and remove the key; 404 for unknown ids', async () => {
    const p = (await createProvider({ name: 'patchme', type: 'openai' })).body.provider;
    expect(p.hasApiKey).toBe(false);
    const withKey = await api.request('PATCH', `/api/v1/providers/${p.id}`, { body: { apiKey: 'sk-new', name: 'patched', baseUrl: 'https://proxy.example/v1' } });
    expect(withKey.status).toBe(200);
    expect(withKey.body.provider).toMatchObject({ name: 'patched', hasApiKey: true, baseUrl: 'https://proxy.example/v1' });
    const conn = await getProviderConnection(api.db.pool, api.deps.config, createSecretBox(TEST_SECRET_KEY), p.id);
    expect(conn.apiKey).toBe('sk-new');
    const removed = await api.request('PATCH', `/api/v1/providers/${p.id}`, { body: { apiKey: null } });
    expect(removed.body.provider.hasApiKey).toBe(false);
    expect((await api.db.pool.query('SELECT api_key_enc FROM providers WHERE id = $1', [p.id])).rows[0].api_key_enc).toBeNull();

    expect((await api.request('PATCH', `/api/v1/providers/${randomUUID()}`, { body: { name: 'x' } })).status).toBe(404);
    expect((await api.request('PATCH', '/api/v1/providers/nope', { body: { name: 'x' } })).status).toBe(404);
    expect((await api.request('DELETE', `/api/v1/providers/${randomUUID()}`)).status).toBe(404);
  });

  test('delete is refused (409) while models use the provider', async () => {
    const p = (await createProvider({ name: 'inuse', type: 'openai', apiKey: 'k' })).body.provider;
    const m = (await api.request('POST', '/api/v1/models', { body: { providerId: p.id, model: 'gpt-x', contextLimit: 1000 } })).body.model;
    const refused = await api.request('DELETE', `/api/v1/providers/${p.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/models/);
    expect((await api.request('DELETE', `/api/v1/models/${m.id}`)).status).toBe(204);
    expect((await api.request('DELETE', `/api/v1/providers/${p.id}`)).status).toBe(204);
    expect((await api.request('GET', `/api/v1/providers/${p.id}`)).status).toBe(404);
  });

  test('members may not manage (or even list) providers', async () => {
    expect((await api.request('GET', '/api/v1/providers', { token: member.token })).status).toBe(403);
    const res = await createProvider({ name: 'sneaky', type: 'openai' }, member.token);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });
});

describe('models', () => {
  let providerId: string;
  beforeAll(async () => {
    providerId = (await createProvider({ name: 'models-provider', type: 'anthropic', apiKey: 'k' })).body.provider.id;
  });

  test('create with defaults; everyone can read; only admins write', async () => {
    const res = await api.request('POST', '/api/v1/models', { body: { providerId, model: 'claude-x', contextLimit: 200_000 } });
    expect(res.status).toBe(201);
    expect(res.body.model).toMatchObject({
      providerId, providerName: 'models-provider', model: 'claude-x', displayName: null, contextLimit: 200_000,
      compactionThresholdPercent: 70, maxOutputTokens: null, isDefault: false, pricing: null, options: {},
    });
    const list = await api.request('GET', '/api/v1/models', { token: member.token });
    expect(list.status).toBe(200);
    expect(list.body.models.map((m: Json) => m.id)).toContain(res.body.model.id);
    expect((await api.request('GET', `/api/v1/models/${res.body.model.id}`, { token: member.token })).body.model).toEqual(res.body.model);

    const denied = await api.request('POST', '/api/v1/models', { body: { providerId, model: 'y', contextLimit: 1 }, token: member.token });
    expect(denied.status).toBe(403);
    expect((await api.request('PATCH', `/api/v1/models/${res.body.model.id}`, { body: { model: 'z' }, token: member.token })).status).toBe(403);
    expect((await api.request('DELETE', `/api/v1/models/${res.body.model.id}`, { token: member.token })).status).toBe(403);
  });

  test('all fields round-trip; patch changes only what it names', async () => {
    const body = {
      providerId, model: 'claude-full', displayName: 'Claude Full', contextLimit: 100_000, compactionThresholdPercent: 80,
      maxOutputTokens: 4096, pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3 },
      options: { thinking: { type: 'enabled', budget_tokens: 1024 }, temperature: 0.2 },
    };
    const created = (await api.request('POST', '/api/v1/models', { body })).body.model;
    expect(created).toMatchObject(body);
    const patched = await api.request('PATCH', `/api/v1/models/${created.id}`, { body: { displayName: null, maxOutputTokens: 8192 } });
    expect(patched.status).toBe(200);
    expect(patched.body.model).toMatchObject({ ...body, displayName: null, maxOutputTokens: 8192 });
    expect((await api.request('PATCH', `/api/v1/models/${randomUUID()}`, { body: { model: 'x' } })).status).toBe(404);
  });

  test('validation: threshold range, unknown provider', async () => {
    for (const compactionThresholdPercent of [0, 101, 50.5]) {
      const res = await api.request('POST', '/api/v1/models', { body: { providerId, model: 'x', contextLimit: 10, compactionThresholdPercent } });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^body\/compactionThresholdPercent /);
    }
    const missing = randomUUID();
    const res = await api.request('POST', '/api/v1/models', { body: { providerId: missing, model: 'x', contextLimit: 10 } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(missing);
    const notUuid = await api.request('POST', '/api/v1/models', { body: { providerId: 'abc', model: 'x', contextLimit: 10 } });
    expect(notUuid.status).toBe(400);
    const neg = await api.request('POST', '/api/v1/models', { body: { providerId, model: 'x', contextLimit: 10, pricing: { inputPerMTok: -1, outputPerMTok: 1 } } });
    expect(neg.status).toBe(400);
    expect(neg.body.error.message).toMatch(/pricing\/inputPerMTok/);
  });

  test('at most one default: isDefault on create or patch moves it', async () => {
    const mk = async (model: string, isDefault: boolean) =>
      (await api.request('POST', '/api/v1/models', { body: { providerId, model, contextLimit: 10, isDefault } })).body.model;
    const a = await mk('a', true);
    const b = await mk('b', true);
    const defaults = async () => (await api.request('GET', '/api/v1/models')).body.models.filter((m: Json) => m.isDefault).map((m: Json) => m.id);
    expect(await defaults()).toEqual([b.id]);
    await api.request('PATCH', `/api/v1/models/${a.id}`, { body: { isDefault: true } });
    expect(await defaults()).toEqual([a.id]);
    // Concurrent "make default" requests serialise instead of colliding on the unique index.
    const results = await Promise.all([mk('c', true), mk('d', true), mk('e', true)]);
    expect(results.every((m) => m?.id)).toBe(true);
    expect(await defaults()).toHaveLength(1);
  });
});

describe('default model resolution on chat creation', () => {
  test('no default → clear 400; keyless provider → 400 naming it', async () => {
    const fresh = await createTestApi();
    try {
      const none = await fresh.request('POST', '/api/v1/chats', { body: { content: 'hi' } });
      expect(none.status).toBe(400);
      expect(none.body.error.message).toBe('no default model configured: create one with POST /api/v1/models');

      const p = (await fresh.request('POST', '/api/v1/providers', { body: { name: 'keyless', type: 'openai' } })).body.provider;
      const m = (await fresh.request('POST', '/api/v1/models', { body: { providerId: p.id, model: 'gpt', contextLimit: 10, isDefault: true } })).body.model;
      const keyless = await fresh.request('POST', '/api/v1/chats', { body: { content: 'hi' } });
      expect(keyless.status).toBe(400);
      expect(keyless.body.error.message).toBe('provider keyless has no API key');
      const explicit = await fresh.request('POST', '/api/v1/chats', { body: { content: 'hi', modelId: m.id } });
      expect(explicit.status).toBe(400);

      await fresh.request('PATCH', `/api/v1/providers/${p.id}`, { body: { apiKey: 'sk-1' } });
      const ok = await fresh.request('POST', '/api/v1/chats', { body: { content: 'hi' } });
      expect(ok.status).toBe(201);
      expect(ok.body.chat.modelId).toBe(m.id);
      expect(fresh.workflows.calls).toEqual([{ op: 'wake', chat: expect.objectContaining({ model: 'gpt' }) }]);
      expect((await fresh.db.pool.query('SELECT count(*)::int AS n FROM chats')).rows[0].n).toBe(1);
    } finally {
      await fresh.close();
    }
  });

  test('a chat whose model was deleted runs on the default', async () => {
    const fresh = await createTestApi();
    try {
      const { providerId: pid } = await fresh.setupModel();
      const other = (await fresh.request('POST', '/api/v1/models', { body: { providerId: pid, model: 'other', contextLimit: 10 } })).body.model;
      const chat = (await fresh.request('POST', '/api/v1/chats', { body: { content: 'hi', modelId: other.id } })).body.chat;
      expect(chat.modelId).toBe(other.id);
      await fresh.db.pool.query(`UPDATE chats SET status = 'waiting' WHERE id = $1`, [chat.id]);
      expect((await fresh.request('DELETE', `/api/v1/models/${other.id}`)).status).toBe(204);
      fresh.workflows.calls.length = 0;
      const sent = await fresh.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: 'again' } });
      expect(sent.status).toBe(202);
      expect(fresh.workflows.calls).toEqual([{ op: 'wake', chat: expect.objectContaining({ model: 'test-model' }) }]);
    } finally {
      await fresh.close();
    }
  });
});

describe('configuration-dependent behaviour', () => {
  test('env providers appear (key from the environment, not stored)', async () => {
    const envApi = await createTestApi({ env: { OPENAI_API_KEY: 'sk-env-openai', ANTHROPIC_API_KEY: 'sk-env-anthropic' } });
    try {
      const list = (await envApi.request('GET', '/api/v1/providers')).body.providers;
      expect(list).toEqual(expect.arrayContaining([
        expect.objectContaining({ name: 'openai', type: 'openai', source: 'env', hasApiKey: true }),
        expect.objectContaining({ name: 'anthropic', type: 'anthropic', source: 'env', hasApiKey: true }),
      ]));
      expect(JSON.stringify(list)).not.toContain('sk-env');
      const { rows } = await envApi.db.pool.query(`SELECT api_key_enc FROM providers WHERE source = 'env'`);
      expect(rows).toEqual([{ api_key_enc: null }, { api_key_enc: null }]);
      const openai = list.find((p: Json) => p.name === 'openai');
      const conn = await getProviderConnection(envApi.db.pool, envApi.deps.config, createSecretBox(undefined), openai.id);
      expect(conn).toEqual({ type: 'openai', name: 'openai', baseUrl: null, apiKey: 'sk-env-openai' });

      const patch = await envApi.request('PATCH', `/api/v1/providers/${openai.id}`, { body: { apiKey: 'other' } });
      expect(patch.status).toBe(400);
      expect(patch.body.error.message).toMatch(/OPENAI_API_KEY/);
      // A model on an env provider is usable right away.
      await envApi.request('POST', '/api/v1/models', { body: { providerId: openai.id, model: 'gpt-4o', contextLimit: 128_000, isDefault: true } });
      expect((await envApi.request('POST', '/api/v1/chats', { body: { content: 'hi' } })).status).toBe(201);
    } finally {
      await envApi.close();
    }
  });

  test('without PARLEY_SECRET_KEY, storing a provider key is refused with a clear 400', async () => {
    const noKey = await createTestApi({ env: { PARLEY_SECRET_KEY: '' } });
    try {
      const res = await noKey.request('POST', '/api/v1/providers', { body: { name: 'p', type: 'openai', apiKey: 'sk-1' } });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe('PARLEY_SECRET_KEY must be set to store provider API keys');
      expect((await noKey.db.pool.query('SELECT count(*)::int AS n FROM providers')).rows[0].n).toBe(0);
      // Keyless providers are still fine.
      expect((await noKey.request('POST', '/api/v1/providers', { body: { name: 'local', type: 'openai-compatible', baseUrl: 'http://localhost:11434/v1' } })).status).toBe(201);
    } finally {
      await noKey.close();
    }
  });
});
