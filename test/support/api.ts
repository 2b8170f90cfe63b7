// The HTTP API against a real PostgreSQL (own database) and the real PostgreSQL event log, with a
// fake ChatWorkflows that records what the API asked of Temporal (the Temporal path is covered by
// the stack tests). Requests go through fastify's inject: no sockets.
import type { FastifyInstance } from 'fastify';
import { buildApi, type ApiOptions } from '../../src/api/app.ts';
import type { ApiDeps } from '../../src/api/deps.ts';
import { loadConfig } from '../../src/config.ts';
import { syncEnvProviders } from '../../src/db/providers.ts';
import { createUser, ensureAdmin } from '../../src/db/users.ts';
import type { User } from '../../src/db/rows.ts';
import { createPgEventHub } from '../../src/events/pg-event-hub.ts';
import { createPgEventLog } from '../../src/events/pg-event-log.ts';
import type { ChatEvent } from '../../src/shared/types.ts';
import type { AnswerOutcome, ChatWorkflows } from '../../src/temporal/chat-workflows.ts';
import type { AnswerToolCallInput } from '../../src/workflows/contract.ts';
import { createTestDatabase } from './db.ts';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_SECRET_KEY = 'test-secret-key-0123456789';

export type WorkflowCall =
  | { op: 'wake'; chat: { id: string; ownerId: string; model?: string | null } }
  | { op: 'interrupt'; chatId: string; turn: number; reason?: string | undefined }
  | { op: 'cancel'; chatId: string }
  | { op: 'isRunning'; chatId: string }
  | { op: 'answerToolCall'; chatId: string; answer: AnswerToolCallInput };

export interface FakeWorkflows extends ChatWorkflows {
  calls: WorkflowCall[];
  /** When set, every call throws it (Temporal down). */
  failWith: Error | null;
  /** What interrupt/cancel answer (true: a workflow was running). */
  running: boolean;
  /** What answerToolCall answers. */
  answerOutcome: AnswerOutcome;
}

export function createFakeWorkflows(): FakeWorkflows {
  const fake: FakeWorkflows = {
    calls: [],
    failWith: null,
    running: true,
    answerOutcome: 'accepted',
    async wake(chat) {
      fake.calls.push({ op: 'wake', chat });
      if (fake.failWith) throw fake.failWith;
    },
    async interrupt(chatId, turn, reason) {
      fake.calls.push({ op: 'interrupt', chatId, turn, reason });
      if (fake.failWith) throw fake.failWith;
      return fake.running;
    },
    async cancel(chatId) {
      fake.calls.push({ op: 'cancel', chatId });
      if (fake.failWith) throw fake.failWith;
      return fake.running;
    },
    async isRunning(chatId) {
      fake.calls.push({ op: 'isRunning', chatId });
      if (fake.failWith) throw fake.failWith;
      return fake.running;
    },
    async answerToolCall(chatId, answer) {
      fake.calls.push({ op: 'answerToolCall', chatId, answer });
      if (fake.failWith) throw fake.failWith;
      return fake.answerOutcome;
    },
  };
  return fake;
}

/** Parsed JSON of a test response: tests assert on its shape, so it is deliberately untyped. */
 
export type Json = any;

export interface Res<T = Json> { status: number; body: T; headers: Record<string, string | string[] | number | undefined> }

export interface TestApi {
  app: FastifyInstance;
  deps: ApiDeps;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  workflows: FakeWorkflows;
  adminToken: string;
  /** JSON request; `token: null` sends no Authorization header. Defaults to the admin token. */
  request<T = Json>(method: string, url: string, opts?: { body?: unknown; token?: string | null; headers?: Record<string, string>; rawBody?: string }): Promise<Res<T>>;
  /** A new member user (through the API) and its token. */
  createMember(username?: string): Promise<{ user: User; token: string }>;
  /** An openai-compatible provider (needs no key) and a default model on it. */
  setupModel(extra?: Record<string, unknown>): Promise<{ providerId: string; modelId: string }>;
  /** All events of a chat, oldest first. */
  events(chatId: string): Promise<ChatEvent[]>;
  close(): Promise<void>;
}

let seq = 0;

export async function createTestApi(opts: { env?: Record<string, string>; api?: ApiOptions } = {}): Promise<TestApi> {
  const db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    PARLEY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    PARLEY_SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  await syncEnvProviders(db.pool, config);
  if (config.adminToken) await ensureAdmin(db.pool, config.adminToken);
  const events = createPgEventLog(db.pool);
  const hub = createPgEventHub(db.url, events);
  await hub.start();
  const workflows = createFakeWorkflows();
  const deps: ApiDeps = { config, pool: db.pool, events, hub, workflows, temporalHealth: async () => {} };
  const app = await buildApi(deps, opts.api);
  await app.ready();

  const request: TestApi['request'] = async (method, url, o = {}) => {
    const token = o.token === undefined ? TEST_ADMIN_TOKEN : o.token;
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...o.headers };
    let payload: string | undefined;
    if (o.rawBody !== undefined) payload = o.rawBody;
    else if (o.body !== undefined) payload = JSON.stringify(o.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const res = await app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) });
    let body: Json = res.body;
    try { body = res.body ? JSON.parse(res.body) : undefined; } catch { /* not JSON */ }
    return { status: res.statusCode, body, headers: res.headers };
  };

  const api: TestApi = {
    app, deps, db, workflows, adminToken: TEST_ADMIN_TOKEN, request,
    async createMember(username = `member${++seq}`) {
      // Directly through the repository: tests of POST /users cover the route itself.
      const { user, token } = await createUser(db.pool, { username, role: 'member' });
      return { user, token };
    },
    async setupModel(extra = {}) {
      const p = await request('POST', '/api/v1/providers', {
        body: { name: `local-${++seq}`, type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1' },
      });
      if (p.status !== 201) throw new Error(`provider: ${p.status} ${JSON.stringify(p.body)}`);
      const m = await request('POST', '/api/v1/models', {
        body: { providerId: p.body.provider.id, model: 'test-model', contextLimit: 100_000, isDefault: true, ...extra },
      });
      if (m.status !== 201) throw new Error(`model: ${m.status} ${JSON.stringify(m.body)}`);
      return { providerId: p.body.provider.id, modelId: m.body.model.id };
    },
    events: (chatId) => events.readAfter(chatId, 0, 10_000),
    async close() {
      await app.close();
      await hub.stop();
      await db.drop();
    },
  };
  return api;
}
