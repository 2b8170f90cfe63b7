// Entry point of the provider layer: one LlmProvider per provider account.
import type { LlmProvider, ProviderConnection } from './provider.ts';
import { createAnthropicProvider } from './anthropic.ts';
import { createOpenAiProvider } from './openai.ts';

export function createProvider(conn: ProviderConnection): LlmProvider {
  switch (conn.type) {
    case 'openai': return createOpenAiProvider(conn, false);
    case 'openai-compatible': return createOpenAiProvider(conn, true);
    case 'anthropic': return createAnthropicProvider(conn);
    default: {
      const unknown: never = conn.type;
      throw new Error(`Unknown provider type: ${String(unknown)}`);
    }
  }
}

export { classifyProviderError, isAbortError, ProviderAbortError, ProviderError } from './errors.ts';
export type * from './provider.ts';
