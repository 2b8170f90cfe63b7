// `parley users | providers | models`: the admin's commands.
import { isUuid } from '../shared/ids.ts';
import type { ApiClient } from './api.ts';
import { positionals, positiveInt, str, UsageError, type Context } from './args.ts';

function verb(ctx: Context, expected: string): void {
  const got = ctx.positionals[0];
  if (got !== expected) throw new UsageError(got ? `unknown subcommand "${got}"` : `missing subcommand "${expected}"`);
  ctx.positionals = ctx.positionals.slice(1);
}

export async function runUsers(ctx: Context): Promise<number> {
  verb(ctx, 'create');
  const [username] = positionals(ctx, ['username']);
  const role = str(ctx.values.role);
  if (role !== undefined && role !== 'admin' && role !== 'member') throw new UsageError('--role must be admin or member');
  const { user, token } = await ctx.api().request<{ user: { id: string; username: string; role: string }; token: string }>(
    'POST', '/users', { username, ...(role ? { role } : {}) },
  );
  // The token alone on stdout, so `TOKEN=$(parley users create bob)` works; the rest is for humans.
  ctx.io.err.write(`Created user ${user.username} (${user.role}, id ${user.id}). Its token is shown only once:\n`);
  ctx.io.out.write(`${token}\n`);
  return 0;
}

const PROVIDER_TYPES = ['openai', 'anthropic', 'openai-compatible'];

export async function runProviders(ctx: Context): Promise<number> {
  verb(ctx, 'add');
  const [name] = positionals(ctx, ['name']);
  const type = str(ctx.values.type);
  if (!type) throw new UsageError('--type is required');
  if (!PROVIDER_TYPES.includes(type)) throw new UsageError(`--type must be one of ${PROVIDER_TYPES.join(', ')}`);
  const baseUrl = str(ctx.values['base-url']);
  let apiKey = str(ctx.values['api-key']);
  const keyEnv = str(ctx.values['api-key-env']);
  if (apiKey !== undefined && keyEnv !== undefined) throw new UsageError('pass --api-key or --api-key-env, not both');
  if (keyEnv !== undefined) {
    apiKey = ctx.io.env[keyEnv];
    if (!apiKey) throw new UsageError(`--api-key-env: the environment variable ${keyEnv} is not set or empty`);
  }
  if (type === 'openai-compatible' && !baseUrl) throw new UsageError('--base-url is required for openai-compatible providers');
  const { provider } = await ctx.api().request<{ provider: { id: string; name: string; type: string; hasApiKey: boolean } }>(
    'POST', '/providers', { name, type, ...(baseUrl ? { baseUrl } : {}), ...(apiKey ? { apiKey } : {}) },
  );
  ctx.io.out.write(`Created provider ${provider.name} (${provider.type}${provider.hasApiKey ? ', with API key' : ''}): ${provider.id}\n`);
  return 0;
}

async function resolveProvider(api: ApiClient, provider: string): Promise<string> {
  if (isUuid(provider)) return provider;
  const { providers } = await api.request<{ providers: Array<{ id: string; name: string }> }>('GET', '/providers');
  const match = providers.find((p) => p.name === provider);
  if (!match) throw new UsageError(`no provider named "${provider}"; known: ${providers.map((p) => p.name).join(', ') || 'none'}`);
  return match.id;
}

export async function runModels(ctx: Context): Promise<number> {
  verb(ctx, 'add');
  const [model] = positionals(ctx, ['model']);
  const provider = str(ctx.values.provider);
  if (!provider) throw new UsageError('--provider is required');
  const contextLimit = positiveInt(ctx.values['context-limit'], '--context-limit');
  if (contextLimit === undefined) throw new UsageError('--context-limit is required');
  const maxOutputTokens = positiveInt(ctx.values['max-output-tokens'], '--max-output-tokens');
  const displayName = str(ctx.values['display-name']);
  const api = ctx.api();
  const providerId = await resolveProvider(api, provider);
  const res = await api.request<{ model: { id: string; model: string; providerName: string; isDefault: boolean } }>('POST', '/models', {
    providerId, model, contextLimit,
    ...(ctx.values.default ? { isDefault: true } : {}),
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    ...(displayName !== undefined ? { displayName } : {}),
  });
  const m = res.model;
  ctx.io.out.write(`Created model ${m.providerName}/${m.model}${m.isDefault ? ' (default)' : ''}: ${m.id}\n`);
  return 0;
}
