// The worker's way from a chat's provider account (read with its model) to a ready SDK adapter.
import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../config.ts';
import { createSecretBox } from '../crypto/secrets.ts';
import { providerConnection, type ProviderAccount } from '../db/providers.ts';
import { DomainError } from '../shared/errors.ts';
import { createProvider } from './index.ts';
import type { LlmProvider } from './provider.ts';

/**
 * Resolves a provider id to a ready SDK adapter. Adapters (and their HTTP connection pools) are
 * reused while the provider's settings stay the same. A configuration problem (unknown provider,
 * undecryptable key) ends the turn with a clear error; anything else (PostgreSQL down) is retried.
 */
export function createProviderResolver(config: Config) {
  const secrets = createSecretBox(config.secretKey);
  const adapters = new Map<string, LlmProvider>();
  return (account: ProviderAccount): { provider: LlmProvider; name: string } => {
    let conn;
    try {
      conn = providerConnection(account, config, secrets);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      throw ApplicationFailure.create({
        message: err.message,
        type: 'provider_config',
        nonRetryable: true,
        details: [{ message: err.message, kind: 'provider_config', retryable: false }],
      });
    }
    const key = JSON.stringify([conn.type, conn.name, conn.baseUrl ?? null, conn.apiKey ?? null]);
    let provider = adapters.get(key);
    if (!provider) {
      // Settings changed or first use; a small bound keeps edited providers from piling up.
      if (adapters.size >= 64) adapters.delete(adapters.keys().next().value!);
      adapters.set(key, (provider = createProvider(conn)));
    }
    return { provider, name: conn.name };
  };
}
