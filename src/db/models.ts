// Model configurations (a provider + a model name + limits and prices). At most one is the default,
// used by chats created without a model and by chats whose model was deleted.
import { randomUUID } from 'node:crypto';
import { badRequest, DomainError, notFound } from '../shared/errors.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import type { EnvKeys } from './providers.ts';
import { isUuid, pgCode, toModel, type Model, type Pricing, type Queryable } from './rows.ts';
import type { ToolPolicy } from '../shared/resources.ts';

const SELECT = `SELECT m.id, m.provider_id, p.name AS provider_name, m.model, m.display_name, m.context_limit,
  m.compaction_threshold_percent, m.max_output_tokens, m.is_default, m.pricing, m.options, m.tool_policy, m.created_at, m.updated_at
  FROM models m JOIN providers p ON p.id = m.provider_id`;

export const NO_DEFAULT_MODEL = 'no default model configured: create one with POST /api/v1/models';

export interface NewModel {
  providerId: string;
  model: string;
  displayName?: string | null;
  contextLimit: number;
  compactionThresholdPercent?: number;
  maxOutputTokens?: number | null;
  isDefault?: boolean;
  pricing?: Pricing | null;
  options?: Record<string, unknown>;
  toolPolicy?: ToolPolicy | null;
}
export type ModelPatch = Partial<NewModel>;

export async function listModels(db: Queryable): Promise<Model[]> {
  const { rows } = await db.query(`${SELECT} ORDER BY m.is_default DESC, p.name, m.model, m.id`);
  return rows.map(toModel);
}

export async function getModel(db: Queryable, id: string): Promise<Model | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query(`${SELECT} WHERE m.id = $1`, [id]);
  return rows[0] ? toModel(rows[0]) : null;
}

/**
 * Clears the current default before a model becomes it. The advisory lock serialises concurrent
 * "make X default" transactions, which would otherwise collide on models_single_default.
 */
async function clearDefault(tx: PoolClient, exceptId: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('parley.models.default'))`);
  await tx.query('UPDATE models SET is_default = false, updated_at = now() WHERE is_default AND id <> $1', [exceptId]);
}

function unknownProvider(err: unknown, providerId: string | undefined): never {
  if (pgCode(err) === '23503') throw badRequest(`unknown providerId ${providerId}: no such provider`);
  throw err;
}

export async function createModel(pool: Pool, input: NewModel): Promise<Model> {
  if (!isUuid(input.providerId)) throw badRequest(`unknown providerId ${input.providerId}: no such provider`);
  const id = randomUUID();
  try {
    return await withTransaction(pool, async (tx) => {
      if (input.isDefault) await clearDefault(tx, id);
      await tx.query(
        `INSERT INTO models (id, provider_id, model, display_name, context_limit, compaction_threshold_percent,
           max_output_tokens, is_default, pricing, options, tool_policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          id, input.providerId, input.model, input.displayName ?? null, input.contextLimit,
          input.compactionThresholdPercent ?? 70, input.maxOutputTokens ?? null, input.isDefault ?? false,
          input.pricing ? JSON.stringify(input.pricing) : null, JSON.stringify(input.options ?? {}),
          input.toolPolicy ? JSON.stringify(input.toolPolicy) : null,
        ],
      );
      return toModel((await tx.query(`${SELECT} WHERE m.id = $1`, [id])).rows[0]);
    });
  } catch (err) {
    return unknownProvider(err, input.providerId);
  }
}

export async function updateModel(pool: Pool, id: string, patch: ModelPatch): Promise<Model> {
  if (!isUuid(id)) throw notFound('model');
  if (patch.providerId !== undefined && !isUuid(patch.providerId)) throw badRequest(`unknown providerId ${patch.providerId}: no such provider`);
  try {
    return await withTransaction(pool, async (tx) => {
      const { rows } = await tx.query('SELECT id FROM models WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) throw notFound('model');
      if (patch.isDefault) await clearDefault(tx, id);
      // Column ← patch field; only fields present in the patch are written.
      const fields: Array<[string, unknown]> = [
        ['provider_id', patch.providerId],
        ['model', patch.model],
        ['display_name', patch.displayName],
        ['context_limit', patch.contextLimit],
        ['compaction_threshold_percent', patch.compactionThresholdPercent],
        ['max_output_tokens', patch.maxOutputTokens],
        ['is_default', patch.isDefault],
        ['pricing', patch.pricing === undefined ? undefined : patch.pricing === null ? null : JSON.stringify(patch.pricing)],
        ['options', patch.options === undefined ? undefined : JSON.stringify(patch.options)],
        ['tool_policy', patch.toolPolicy === undefined ? undefined : patch.toolPolicy === null ? null : JSON.stringify(patch.toolPolicy)],
      ];
      const set = fields.filter(([, v]) => v !== undefined);
      const values = set.map(([, v]) => v);
      const assignments = set.map(([col], i) => `${col} = $${i + 2}`);
      await tx.query(`UPDATE models SET ${[...assignments, 'updated_at = now()'].join(', ')} WHERE id = $1`, [id, ...values]);
      return toModel((await tx.query(`${SELECT} WHERE m.id = $1`, [id])).rows[0]);
    });
  } catch (err) {
    return unknownProvider(err, patch.providerId);
  }
}

export async function deleteModel(db: Queryable, id: string): Promise<void> {
  if (!isUuid(id)) throw notFound('model');
  const res = await db.query('DELETE FROM models WHERE id = $1', [id]);
  if (!res.rowCount) throw notFound('model');
}

/**
 * The model a turn will run on: `modelId` if given, else the default. Fails early, with a message
 * that says what to fix, when it could not run (unknown model, no default, provider without a key).
 * Without `config`, env-sourced providers are assumed to have their key.
 */
export async function resolveModel(db: Queryable, modelId?: string | null, config?: EnvKeys): Promise<Model> {
  let model: Model | null;
  if (modelId) {
    model = await getModel(db, modelId);
    if (!model) throw new DomainError('not_found', 'not_found', `model ${modelId} not found`);
  } else {
    const { rows } = await db.query(`${SELECT} WHERE m.is_default`);
    model = rows[0] ? toModel(rows[0]) : null;
    if (!model) throw badRequest(NO_DEFAULT_MODEL);
  }
  const { rows } = await db.query('SELECT name, type, source, api_key_enc IS NOT NULL AS has_key FROM providers WHERE id = $1', [model.providerId]);
  const p = rows[0] as { name: string; type: string; source: string; has_key: boolean };
  const envKey = p.name === 'openai' ? config?.openaiApiKey : p.name === 'anthropic' ? config?.anthropicApiKey : undefined;
  const hasKey = p.source === 'env' ? !config || Boolean(envKey) : p.has_key;
  // openai-compatible servers (local runtimes, proxies) often need no key at all.
  if (!hasKey && p.type !== 'openai-compatible') throw badRequest(`provider ${p.name} has no API key`);
  return model;
}
