// Repository-level behaviour that the API tests don't reach directly: secrets, the admin bootstrap,
// env providers, model resolution and the transactional coupling of data and events.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ApiDeps } from '../../src/api/deps.ts';
import { loadConfig } from '../../src/config.ts';
import { createSecretBox, SECRET_KEY_REQUIRED, SecretsError } from '../../src/crypto/secrets.ts';
import { createChat, submitUserMessage } from '../../src/chats/service.ts';
import { defaultTitle } from '../../src/db/chats.ts';
import { createModel, resolveModel } from '../../src/db/models.ts';
import { createProvider, getProviderConnection, syncEnvProviders } from '../../src/db/providers.ts';
import { authenticate, createUser, ensureAdmin, hashToken } from '../../src/db/users.ts';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import type { EventLog } from '../../src/events/event-log.ts';
import { createFakeWorkflows } from '../support/api.ts';
import { createTestDatabase } from '../support/db.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db?.drop(); });

const noEnvKeys = { openaiApiKey: undefined, anthropicApiKey: undefined };

describe('secrets', () => {
  const box = createSecretBox('a-long-enough-secret-key');

  test('round-trips with a random IV in a versioned format', () => {
    const a = box.encrypt('sk-abc');
    const b = box.encrypt('sk-abc');
    expect(a).toMatch(/^v1:[\w-]+:[\w-]+:[\w-]+$/);
    expect(a).not.toBe(b);
    expect(box.decrypt(a)).toBe('sk-abc');
    expect(box.decrypt(box.encrypt('ünïcode 🔑'))).toBe('ünïcode 🔑');
    expect(box.available).toBe(true);
  });

  test('refuses a different key, tampering and unknown formats', () => {
    const enc = box.encrypt('sk-abc');
    expect(() => createSecretBox('another-secret-key-value').decrypt(enc)).toThrow(SecretsError);
    const [v, iv, tag, ct] = enc.split(':');
    const flipped = Buffer.from(ct!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.decrypt([v, iv, tag, flipped.toString('base64url')].join(':'))).toThrow(SecretsError);
    expect(() => box.decrypt([v, iv, tag!.slice(0, 6), ct].join(':'))).toThrow(SecretsError);
    expect(() => box.decrypt(`v2:${iv}:${tag}:${ct}`)).toThrow(/format/);
    expect(() => box.decrypt('plaintext')).toThrow(SecretsError);
  });

  test('without a secret key nothing is encrypted', () => {
    const none = createSecretBox(undefined);
    expect(none.available).toBe(false);
    expect(() => none.encrypt('x')).toThrow(SECRET_KEY_REQUIRED);
    expect(() => none.decrypt(box.encrypt('x'))).toThrow(SecretsError);
  });
});

describe('users', () => {
  test('ensureAdmin is idempotent and follows a changed admin token', async () => {
    const first = await ensureAdmin(db.pool, 'first-admin-token-123');
    const again = await ensureAdmin(db.pool, 'first-admin-token-123');
    expect(again).toEqual(first);
    expect(first).toMatchObject({ username: 'admin', role: 'admin' });
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM users WHERE username = 'admin'`)).rows[0].n).toBe(1);
    // authenticate also names the token used (streams of a revoked token are closed by it).
    expect(await authenticate(db.pool, 'first-admin-token-123')).toEqual({ ...first, tokenId: expect.any(String) });

    await ensureAdmin(db.pool, 'second-admin-token-456');
    expect(await authenticate(db.pool, 'second-admin-token-456')).toEqual({ ...first, tokenId: expect.any(String) });
    expect(await authenticate(db.pool, 'first-admin-token-123')).toBeNull();
    // Tokens the admin created through the API survive the rotation.
    const { rows } = await db.pool.query(`SELECT token_hash FROM api_tokens WHERE token_hash = $1`, [hashToken('second-admin-token-456')]);
    expect(rows).toHaveLength(1);
  });

  test('authenticate: unknown and empty tokens are null; last_used_at is recorded', async () => {
    expect(await authenticate(db.pool, '')).toBeNull();
    expect(await authenticate(db.pool, 'prl_unknown')).toBeNull();
    const { user, token, tokenId } = await createUser(db.pool, { username: `u-${randomUUID().slice(0, 8)}`, role: 'member' });
    expect(await authenticate(db.pool, token)).toEqual({ id: user.id, username: user.username, role: 'member', tokenId });
    const { rows } = await db.pool.query('SELECT last_used_at FROM api_tokens WHERE id = $1', [tokenId]);
    expect(rows[0].last_used_at).toBeInstanceOf(Date);
  });
});

describe('providers and models', () => {
  test('syncEnvProviders creates env providers once and leaves same-named API providers alone', async () => {
    const fresh = await createTestDatabase();
    try {
      const box = createSecretBox('a-long-enough-secret-key');
      await createProvider(fresh.pool, noEnvKeys, box, { name: 'anthropic', type: 'anthropic', apiKey: 'sk-db' });
      const config = { openaiApiKey: 'sk-env', anthropicApiKey: 'sk-env-ant' };
      await syncEnvProviders(fresh.pool, config);
      await syncEnvProviders(fresh.pool, config);
      const { rows } = await fresh.pool.query('SELECT id, name, source FROM providers ORDER BY name');
      expect(rows.map((r) => [r.name, r.source])).toEqual([['anthropic', 'api'], ['openai', 'env']]);
      const anthropic = await getProviderConnection(fresh.pool, config, box, rows[0].id);
      expect(anthropic.apiKey).toBe('sk-db');
      const openai = await getProviderConnection(fresh.pool, config, box, rows[1].id);
      expect(openai.apiKey).toBe('sk-env');
      // The env key is read at use time: gone from the environment, gone from the connection.
      expect((await getProviderConnection(fresh.pool, noEnvKeys, box, rows[1].id)).apiKey).toBeNull();
      await expect(getProviderConnection(fresh.pool, config, box, randomUUID())).rejects.toThrow(/not found/);
      await expect(getProviderConnection(fresh.pool, config, box, 'nope')).rejects.toThrow(/not found/);
      // A stored key under another PARLEY_SECRET_KEY is reported, not passed on garbled.
      await expect(getProviderConnection(fresh.pool, config, createSecretBox('other-secret-key-000'), rows[0].id))
        .rejects.toThrow(/provider anthropic: cannot decrypt/);
    } finally {
      await fresh.drop();
    }
  });

  test('resolveModel: explicit, default, and the errors that say what to fix', async () => {
    const fresh = await createTestDatabase();
    try {
      const box = createSecretBox('a-long-enough-secret-key');
      await expect(resolveModel(fresh.pool)).rejects.toThrow('no default model configured: create one with POST /api/v1/models');
      const missing = randomUUID();
      await expect(resolveModel(fresh.pool, missing)).rejects.toMatchObject({ kind: 'not_found', message: `model ${missing} not found` });

      const keyless = await createProvider(fresh.pool, noEnvKeys, box, { name: 'keyless', type: 'anthropic' });
      const local = await createProvider(fresh.pool, noEnvKeys, box, { name: 'ollama', type: 'openai-compatible', baseUrl: 'http://localhost:11434/v1' });
      const m1 = await createModel(fresh.pool, { providerId: keyless.id, model: 'claude', contextLimit: 10 });
      const m2 = await createModel(fresh.pool, { providerId: local.id, model: 'llama', contextLimit: 10, isDefault: true });
      await expect(resolveModel(fresh.pool, m1.id)).rejects.toMatchObject({ kind: 'invalid', message: 'provider keyless has no API key' });
      expect((await resolveModel(fresh.pool)).id).toBe(m2.id);
      expect((await resolveModel(fresh.pool, null)).id).toBe(m2.id);

      await syncEnvProviders(fresh.pool, { openaiApiKey: 'sk', anthropicApiKey: undefined });
      const envId = (await fresh.pool.query(`SELECT id FROM providers WHERE name = 'openai'`)).rows[0].id;
      const m3 = await createModel(fresh.pool, { providerId: envId, model: 'gpt', contextLimit: 10 });
      expect((await resolveModel(fresh.pool, m3.id, { openaiApiKey: 'sk', anthropicApiKey: undefined })).id).toBe(m3.id);
      await expect(resolveModel(fresh.pool, m3.id, noEnvKeys)).rejects.toThrow('provider openai has no API key');
    } finally {
      await fresh.drop();
    }
  });
});

describe('chats', () => {
  test('defaultTitle', () => {
    expect(defaultTitle('  hello   world ')).toBe('hello world');
    expect(defaultTitle(`${'word '.repeat(20)}`)).toBe('word word word word word word word word word word word word');
    expect(defaultTitle('a'.repeat(61))).toBe('a'.repeat(60));
    expect(defaultTitle(`${'a'.repeat(60)} b`)).toBe('a'.repeat(60));
  });

  test('data and events commit together: a failing event append leaves nothing behind', async () => {
    const fresh = await createTestDatabase();
    try {
      const config = loadConfig({ DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' });
      const real = createPgEventLog(fresh.pool);
      const failing: EventLog = { ...real, append: async () => { throw new Error('event store down'); } };
      const box = createSecretBox(undefined);
      const p = await createProvider(fresh.pool, config, box, { name: 'local', type: 'openai-compatible', baseUrl: 'http://x/v1' });
      await createModel(fresh.pool, { providerId: p.id, model: 'm', contextLimit: 10, isDefault: true });
      const owner = await createUser(fresh.pool, { username: 'owner', role: 'member' });
      const workflows = createFakeWorkflows();
      const deps = (events: EventLog): Pick<ApiDeps, 'pool' | 'events' | 'workflows' | 'config'> => ({ pool: fresh.pool, events, workflows, config });

      await expect(createChat(deps(failing), owner.user, { content: 'hi' })).rejects.toThrow('event store down');
      expect((await fresh.pool.query('SELECT count(*)::int AS n FROM chats')).rows[0].n).toBe(0);
      expect(workflows.calls).toEqual([]);

      const { chat } = await createChat(deps(real), owner.user, { content: 'hi' });
      await fresh.pool.query(`UPDATE chats SET status = 'waiting' WHERE id = $1`, [chat.id]);
      await expect(submitUserMessage(deps(failing), owner.user, chat.id, { content: 'again' })).rejects.toThrow('event store down');
      const after = await fresh.pool.query('SELECT turn, status, (SELECT count(*)::int FROM messages WHERE chat_id = $1) AS n FROM chats WHERE id = $1', [chat.id]);
      expect(after.rows[0]).toEqual({ turn: 1, status: 'waiting', n: 1 });
      await fresh.pool.query(`UPDATE chats SET status = 'running' WHERE id = $1`, [chat.id]);
      await expect(submitUserMessage(deps(failing), owner.user, chat.id, { content: 'queued?' })).rejects.toThrow('event store down');
      expect((await fresh.pool.query('SELECT count(*)::int AS n FROM queued_messages')).rows[0].n).toBe(0);
      expect(workflows.calls.map((c) => c.op)).toEqual(['wake']);
    } finally {
      await fresh.drop();
    }
  });

  test('concurrent sends to an idle chat: exactly one starts the turn, the others queue', async () => {
    const fresh = await createTestDatabase();
    try {
      const config = loadConfig({ DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' });
      const p = await createProvider(fresh.pool, config, createSecretBox(undefined), { name: 'local', type: 'openai-compatible', baseUrl: 'http://x/v1' });
      await createModel(fresh.pool, { providerId: p.id, model: 'm', contextLimit: 10, isDefault: true });
      const owner = await createUser(fresh.pool, { username: 'owner', role: 'member' });
      const deps = { pool: fresh.pool, events: createPgEventLog(fresh.pool), workflows: createFakeWorkflows(), config };
      const { chat } = await createChat(deps, owner.user, { content: 'hi' });
      await fresh.pool.query(`UPDATE chats SET status = 'waiting' WHERE id = $1`, [chat.id]);
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((content) => submitUserMessage(deps, owner.user, chat.id, { content })));
      expect(results.filter((r) => !r.queued)).toHaveLength(1);
      expect(results.filter((r) => r.queued)).toHaveLength(3);
      const { rows } = await fresh.pool.query('SELECT turn, status FROM chats WHERE id = $1', [chat.id]);
      expect(rows[0]).toEqual({ turn: 2, status: 'pending' });
      const ids = (await deps.events.readAfter(chat.id, 0)).map((e) => e.id);
      expect(ids).toEqual(ids.map((_, i) => i + 1));
    } finally {
      await fresh.drop();
    }
  });
});
