// What the chat API tests (test/api/chats*.test.ts) share: the test API with a model and two
// members, the fake workflows cleared before each test, and creating a chat.
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { createTestApi, type TestApi, type Json } from './api.ts';

// Set by the hooks of useChatsApi(); importers see the current values.
export let api: TestApi;
export let modelId: string;
export let member: { token: string; user: { id: string } };
export let other: { token: string; user: { id: string } };

/** Registers the hooks: the API, its model and members for the file; fake workflows reset per test. */
export function useChatsApi(): void {
  beforeAll(async () => {
    api = await createTestApi();
    ({ modelId } = await api.setupModel());
    member = await api.createMember('alice');
    other = await api.createMember('bob');
  });
  afterAll(async () => { await api?.close(); });
  beforeEach(() => {
    api.workflows.calls.length = 0;
    api.workflows.failWith = null;
  });
}

export async function newChat(content = 'hello there', token = member.token, extra: Record<string, unknown> = {}) {
  const res = await api.request('POST', '/api/v1/chats', { body: { content, ...extra }, token });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { chat: Json; message: Json };
}
