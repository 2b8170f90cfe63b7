// A whole Parley for integration tests: real PostgreSQL (own database), real Temporal dev server
// (own task queue), the production wiring from src/runtime.ts, and fake providers at the HTTP boundary.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import type { ParleyWorkerOptions } from '../../src/worker/worker.ts';
import { openServices, prepareDatabase, startApi, type RunningApi, type Services } from '../../src/runtime.ts';
import { startWorker, type RunningWorker } from '../../src/worker/worker.ts';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import type { ChatEvent, ChatStatus } from '../../src/shared/types.ts';
import { createTestDatabase } from './db.ts';
import { startFakeProviders, type FakeProvider } from './fake-providers.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Stack {
  config: Config & { databaseUrl: string };
  services: Services;
  api: RunningApi;
  workers: RunningWorker[];
  fake: Awaited<ReturnType<typeof startFakeProviders>>;
  temporal: Client;
  /** JSON request against the API; returns status and parsed body. */
  http<T = any>(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: T; headers: Headers }>;
  /** Creates a provider of that kind pointing at the fake server and a default model on it. */
  setupModel(kind: FakeProvider, extra?: Record<string, unknown>): Promise<{ providerId: string; modelId: string }>;
  waitForStatus(chatId: string, status: ChatStatus | ChatStatus[], timeoutMs?: number): Promise<any>;
  /** Waits until the chat's workflow run has closed (or none runs). */
  waitForWorkflowClosed(chatId: string, timeoutMs?: number): Promise<void>;
  events(chatId: string): Promise<ChatEvent[]>;
  /** Every event appended through the log, including deltas pruned since. */
  appended: ChatEvent[];
  startWorker(opts?: Pick<ParleyWorkerOptions, 'wrapActivities'>): Promise<RunningWorker>;
  close(): Promise<void>;
}

export async function startStack(opts: {
  env?: Record<string, string>;
  /** In-process workers to start (default 1). */
  workers?: number;
  /** A Temporal server of the test's own (default: the run's shared dev server). */
  temporalAddress?: string;
} & Pick<ParleyWorkerOptions, 'wrapActivities'> = {}): Promise<Stack> {
  const db = await createTestDatabase();
  const fake = await startFakeProviders();
  const workspaces = await fs.mkdtemp(path.join(inject('tmpRoot'), 'ws-'));
  const config = loadConfig({
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: opts.temporalAddress ?? inject('temporalAddress'),
    PARLEY_TASK_QUEUE: `test-${randomUUID()}`,
    PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
    PARLEY_SECRET_KEY: 'test-secret-key-0123456789',
    PARLEY_WORKSPACES_DIR: workspaces,
    LOG_LEVEL: 'silent',
    // Runs complete as soon as a chat is idle, which most tests wait for; test/workflow/idle-run.test.ts
    // covers the idle window that ships by default.
    PARLEY_RUN_IDLE_MS: '0',
    HOST: '127.0.0.1',
    PORT: '0',
    ...opts.env,
  }) as Config & { databaseUrl: string };
  const services = openServices(config);
  await prepareDatabase(services);
  const appended: ChatEvent[] = [];
  const append = services.events.append.bind(services.events);
  services.events.append = async (...args) => {
    const stored = await append(...args);
    appended.push(...stored);
    return stored;
  };
  const bundle = { code: inject('workflowBundle').code };
  const workers: RunningWorker[] = [];
  const spawnWorker = async (o: Pick<ParleyWorkerOptions, 'wrapActivities'> = {}) => {
    const w = await startWorker(services, { workflowBundle: bundle, ...o });
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 1); i++) await spawnWorker(opts.wrapActivities ? { wrapActivities: opts.wrapActivities } : {});
  const api = await startApi(services, { port: 0, host: '127.0.0.1' });
  const connection = await Connection.connect({ address: config.temporalAddress! });
  const temporal = new Client({ connection });

  const http: Stack['http'] = async (method, url, body, token = ADMIN_TOKEN) => {
    const res = await fetch(api.url + url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  const stack: Stack = {
    config, services, api, workers, fake, temporal, http, appended,
    async setupModel(kind, extra = {}) {
      const p = await http('POST', '/api/v1/providers', {
        name: `${kind}-${randomUUID().slice(0, 8)}`, type: kind,
        baseUrl: kind === 'openai' ? fake.openaiBaseUrl : fake.anthropicBaseUrl, apiKey: 'sk-test',
      });
      if (p.status !== 201) throw new Error(`provider: ${p.status} ${JSON.stringify(p.body)}`);
      const m = await http('POST', '/api/v1/models', {
        providerId: p.body.provider.id, model: kind === 'openai' ? 'gpt-test' : 'claude-test',
        contextLimit: 200_000, isDefault: true, ...extra,
      });
      if (m.status !== 201) throw new Error(`model: ${m.status} ${JSON.stringify(m.body)}`);
      return { providerId: p.body.provider.id, modelId: m.body.model.id };
    },
    async waitForStatus(chatId, status, timeoutMs = 20_000) {
      const want = Array.isArray(status) ? status : [status];
      const deadline = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < deadline) {
        const { rows } = await services.pool.query('SELECT status, last_error FROM chats WHERE id = $1', [chatId]);
        last = rows[0];
        if (last && want.includes(last.status)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`chat ${chatId} did not reach ${want.join('|')} (last: ${JSON.stringify(last)})`);
    },
    async waitForWorkflowClosed(chatId, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const d = await temporal.workflow.getHandle(chatWorkflowId(chatId)).describe().catch(() => null);
        if (!d || d.status.name !== 'RUNNING') return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`workflow of chat ${chatId} still running`);
    },
    async events(chatId) {
      return services.events.readAfter(chatId, 0, 10_000);
    },
    startWorker: spawnWorker,
    async close() {
      await api.close();
      await Promise.all(workers.map((w) => w.shutdown().catch(() => {})));
      await connection.close();
      await services.close();
      await fake.close();
      await db.drop();
    },
  };
  return stack;
}
