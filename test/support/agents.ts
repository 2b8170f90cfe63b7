// Reading a fake provider's streaming request as an agent would: whose chat it is (a parent or a
// sub-agent, by its first user message), which step, which tools it was offered. Sub-agent tests
// answer each request from this with a function script, since parent and children share the fake.
import type { FakeProvider, FakeRequestBody } from './fake-providers.ts';

export interface AgentRequest {
  /** The system prompt. */
  system: string;
  /** The chat's first user message, as JSON text (search it with includes()). */
  firstUser: string;
  /** Assistant messages already in the transcript: 0 on the first step of the first turn. */
  steps: number;
  /** Names of the tools offered. */
  tools: string[];
  /** The whole request as JSON text. */
  raw: string;
  /** Chat ids that appear in tool results (what spawn_agent returned), in order, without repeats. */
  chatIds: string[];
}

export function agentRequest(body: FakeRequestBody, provider: FakeProvider): AgentRequest {
  const messages: any[] = body.messages ?? [];
  const system = provider === 'openai'
    ? String(messages.find((m) => m.role === 'system')?.content ?? '')
    : typeof body.system === 'string' ? body.system : (body.system ?? []).map((b: any) => b.text).join('');
  const tools = (body.tools ?? []).map((t: any) => (provider === 'openai' ? t.function.name : t.name));
  const raw = JSON.stringify(body);
  const chatIds = [...new Set([...raw.matchAll(/chatId\\*"\s*:\s*\\*"([0-9a-f-]{36})/g)].map((m) => m[1]!))];
  return {
    system,
    firstUser: JSON.stringify(messages.find((m) => m.role === 'user') ?? null),
    steps: messages.filter((m) => m.role === 'assistant').length,
    tools,
    raw,
    chatIds,
  };
}

export const isSubAgentRequest = (r: AgentRequest): boolean => r.system.includes('You are a sub-agent');
