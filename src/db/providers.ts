// LLM provider accounts. API keys are stored encrypted (see crypto/secrets.ts) and never leave this
// module except as a ProviderConnection for the LLM activity. Providers made from OPENAI_API_KEY /
// ANTHROPIC_API_KEY (`source: 'env'`) keep their key in the environment only.
import { randomUUID } from 'node:crypto';
import { badRequest, conflict, DomainError, notFound } from '../shared/errors.ts';
import type { Config } from '../config.ts';
import { SecretsError, type SecretBox } from '../crypto/secrets.ts';
import type { ProviderConnection } from '../providers/index.ts';
import type { ProviderType } from '../shared/types.ts';
import type { Pool } from './pool.ts';
import { isUuid, pgCode, type Provider, type ProviderSource, type Queryable } from './rows.ts';

export type EnvKeys = Pick<Config, 'openaiApiKey' | 'anthropicApiKey'>;

/** Env-sourced providers: record name and type → the config key holding their API key. */
const ENV_PROVIDERS = [
  { name: 'openai', type: 'openai', key: 'openaiApiKey' },
  { name: 'anthropic', type: 'anthropic', key: 'anthropicApiKey' },
] as const satisfies ReadonlyArray<{ name: string; type: ProviderType; key: keyof EnvKeys }>;

function envKeyOf(config: EnvKeys, name: string): string | undefined {
  const entry = ENV_PROVIDERS.find((p) => p.name === name);
  return entry ? config[entry.key] : undefined;
}

interface ProviderRow {
  id: string; name: string; type: ProviderType; base_url: string | null; api_key_enc: string | null;
  source: ProviderSource; created_at: Date; updated_at: Date;
}
const COLUMNS = 'id, name, type, base_url, api_key_enc, source, created_at, updated_at';

function toProvider(r: ProviderRow, config: EnvKeys): Provider {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    baseUrl: r.base_url,
    hasApiKey: r.source === 'env' ? Boolean(envKeyOf(config, r.name)) : r.api_key_enc !== null,
    source: r.source,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function encryptKey(secrets: SecretBox, apiKey: string): string {
  try {
    return secrets.encrypt(apiKey);
  } catch (err) {
    if (err instanceof SecretsError) throw badRequest(err.message);
    throw err;
  }
}

function checkBaseUrl(type: ProviderType, baseUrl: string | null | undefined): void {
  if (type === 'openai-compatible' && !baseUrl) throw badRequest('baseUrl is required for openai-compatible providers');
  if (baseUrl) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw badRequest(`baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest('baseUrl must be an http(s) URL');
  }
}

function nameTaken(err: unknown, name: string | undefined): never {
  if (pgCode(err) === '23505') throw conflict(`a provider named ${JSON.stringify(name)} already exists`);
  throw err;
}

export async function listProviders(db: Queryable, config: EnvKeys): Promise<Provider[]> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM providers ORDER BY name`);
  return rows.map((r) => toProvider(r, config));
}

export async function getProvider(db: Queryable, config: EnvKeys, id: string): Promise<Provider | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM providers WHERE id = $1`, [id]);
  return rows[0] ? toProvider(rows[0], config) : null;
}

export interface NewProvider { name: string; type: ProviderType; baseUrl?: string | null; apiKey?: string | null }

export async function createProvider(db: Queryable, config: EnvKeys, secrets: SecretBox, input: NewProvider): Promise<Provider> {
  checkBaseUrl(input.type, input.baseUrl);
  const enc = input.apiKey ? encryptKey(secrets, input.apiKey) : null;
  try {
    const { rows } = await db.query(
      `INSERT INTO providers (id, name, type, base_url, api_key_enc, source) VALUES ($1, $2, $3, $4, $5, 'api')
       RETURNING ${COLUMNS}`,
      [randomUUID(), input.name, input.type, input.baseUrl || null, enc],
    );
    return toProvider(rows[0], config);
  } catch (err) {
    return nameTaken(err, input.name);
  }
}

/** `apiKey: null` removes the stored key; an absent field is left unchanged. */
export type ProviderPatch = Partial<NewProvider>;

export async function updateProvider(
  db: Queryable, config: EnvKeys, secrets: SecretBox, id: string, patch: ProviderPatch,
): Promise<Provider> {
  if (!isUuid(id)) throw notFound('provider');
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM providers WHERE id = $1`, [id]);
  const current = rows[0] as ProviderRow | undefined;
  if (!current) throw notFound('provider');
  if (current.source === 'env') {
    const envVar = current.name === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
    if (patch.apiKey !== undefined) throw badRequest(`provider ${current.name} takes its key from ${envVar}: change it there`);
    if ((patch.name !== undefined && patch.name !== current.name) || (patch.type !== undefined && patch.type !== current.type)) {
      throw badRequest(`provider ${current.name} comes from ${envVar}: its name and type are fixed`);
    }
  }
  const type = patch.type ?? current.type;
  const baseUrl = patch.baseUrl !== undefined ? patch.baseUrl || null : current.base_url;
  checkBaseUrl(type, baseUrl);
  const enc = patch.apiKey === undefined ? current.api_key_enc : patch.apiKey ? encryptKey(secrets, patch.apiKey) : null;
  try {
    const res = await db.query(
      `UPDATE providers SET name = $2, type = $3, base_url = $4, api_key_enc = $5, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, patch.name ?? current.name, type, baseUrl, enc],
    );
    if (!res.rows[0]) throw notFound('provider');
    return toProvider(res.rows[0], config);
  } catch (err) {
    return nameTaken(err, patch.name);
  }
}

export async function deleteProvider(db: Queryable, id: string): Promise<void> {
  if (!isUuid(id)) throw notFound('provider');
  try {
    const res = await db.query('DELETE FROM providers WHERE id = $1', [id]);
    if (!res.rowCount) throw notFound('provider');
  } catch (err) {
    // models.provider_id is ON DELETE RESTRICT (23001); 23503 if that ever becomes NO ACTION.
    const code = pgCode(err);
    if (code === '23001' || code === '23503') throw conflict('provider is used by models: delete or move them first');
    throw err;
  }
}

/**
 * Makes sure a provider record exists for each provider key in the environment, so models can
 * reference it. An existing provider of the same name (e.g. created through the API) is left as is.
 */
export async function syncEnvProviders(pool: Pool, config: EnvKeys): Promise<void> {
  for (const p of ENV_PROVIDERS) {
    if (!config[p.key]) continue;
    await pool.query(
      `INSERT INTO providers (id, name, type, source) VALUES ($1, $2, $3, 'env') ON CONFLICT (name) DO NOTHING`,
      [randomUUID(), p.name, p.type],
    );
  }
}

/** What a connection is made from; chat-model.ts reads it with the model, in the same query. */
export interface ProviderAccount {
  name: string; type: ProviderType; baseUrl: string | null; apiKeyEnc: string | null; source: ProviderSource;
}

/** Everything an LLM adapter needs to call the provider, with the API key decrypted. */
export function providerConnection(p: ProviderAccount, config: EnvKeys, secrets: SecretBox): ProviderConnection {
  let apiKey: string | null = null;
  if (p.source === 'env') {
    apiKey = envKeyOf(config, p.name) ?? null;
  } else if (p.apiKeyEnc) {
    try {
      apiKey = secrets.decrypt(p.apiKeyEnc);
    } catch (err) {
      if (err instanceof SecretsError) throw new DomainError('internal', 'secret_unavailable', `provider ${p.name}: ${err.message}`);
      throw err;
    }
  }
  return { type: p.type, name: p.name, baseUrl: p.baseUrl, apiKey };
}

export async function getProviderConnection(
  db: Queryable, config: EnvKeys, secrets: SecretBox, providerId: string,
): Promise<ProviderConnection> {
  const { rows } = isUuid(providerId)
    ? await db.query(`SELECT ${COLUMNS} FROM providers WHERE id = $1`, [providerId])
    : { rows: [] };
  const r = rows[0] as ProviderRow | undefined;
  if (!r) throw notFound(`provider ${providerId}`);
  return providerConnection({ name: r.name, type: r.type, baseUrl: r.base_url, apiKeyEnc: r.api_key_enc, source: r.source }, config, secrets);
}
