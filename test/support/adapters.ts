// What the provider adapter tests (test/providers/*.test.ts) share: the fake OpenAI/Anthropic
// server, adapters pointed at it, and running a request's stream to its end or its failure.
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createProvider } from '../../src/providers/index.ts';
import type { LlmProvider, LlmRequest, LlmStreamEvent, PromptMessage, ProviderConnection } from '../../src/providers/provider.ts';
import { startFakeProviders } from './fake-providers.ts';
import type { FakeProvider, FakeProviders } from './fake-providers.ts';

// Set by the hooks of useFakeProviders(); importers see the current value.
export let fake: FakeProviders;

/** Registers the hooks: the fake server for the file, reset before each test. */
export function useFakeProviders(): void {
  beforeAll(async () => { fake = await startFakeProviders(); });
  afterAll(async () => { await fake.close(); });
  beforeEach(() => fake.reset());
}

export const NAMES: Record<FakeProvider, string> = { openai: 'OpenAI', anthropic: 'Anthropic' };

export function providerFor(kind: FakeProvider, extra: Partial<ProviderConnection> = {}): LlmProvider {
  return createProvider(kind === 'openai'
    ? { type: 'openai', name: NAMES.openai, baseUrl: fake.openaiBaseUrl, apiKey: 'sk-test', ...extra }
    : { type: 'anthropic', name: NAMES.anthropic, baseUrl: fake.anthropicBaseUrl, apiKey: 'sk-ant-test', ...extra });
}

export const user = (t: string): PromptMessage => ({ role: 'user', parts: [{ type: 'text', text: t }] });

export function request(over: Partial<LlmRequest> = {}): LlmRequest {
  return { model: 'test-model', messages: [user('hi')], tools: [], signal: new AbortController().signal, ...over };
}

export async function collect(p: LlmProvider, req: LlmRequest = request()): Promise<LlmStreamEvent[]> {
  const out: LlmStreamEvent[] = [];
  for await (const ev of p.stream(req)) out.push(ev);
  return out;
}

/** Runs the stream to its failure; returns the error and the events delivered before it. */
export async function failure(p: LlmProvider, req: LlmRequest = request()): Promise<{ err: unknown; events: LlmStreamEvent[] }> {
  const events: LlmStreamEvent[] = [];
  try {
    for await (const ev of p.stream(req)) events.push(ev);
  } catch (err) {
    return { err, events };
  }
  throw new Error(`stream did not fail; events: ${JSON.stringify(events)}`);
}

export const texts = (events: LlmStreamEvent[]) => events.flatMap((e) => (e.type === 'text_delta' ? [e.text] : []));
export const finishOf = (events: LlmStreamEvent[]) => events.find((e) => e.type === 'finish');
