// A whole Parley for the bench, shaped like production: real PostgreSQL and Temporal dev server,
// the API and the worker as separate `node src/cli.ts api|worker` processes (so each one's memory
// and CPU can be read), the fake provider in a third. The bench process itself holds only clients,
// plus what the plain in-process loop needs (its own pool, event log and interrupt registry).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import type { ActivityDeps } from '../src/activities/index.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { deploymentId } from '../src/db/reconcile.ts';
import { startEmbeddedPostgres } from '../src/dev/postgres.ts';
import { freePort } from '../src/dev/ports.ts';
import { startTemporalDevServer } from '../src/dev/temporal.ts';
import { chatWorkflowsOf, openServices, type Services } from '../src/runtime.ts';
import { createProviderResolver } from '../src/providers/resolver.ts';
import { createSandbox } from '../src/tools/index.ts';
import { shippedNodeFlags } from '../src/dev/node-flags.ts';
import { InterruptRegistry } from '../src/worker/interrupts.ts';
import { writeWorkflowBundle } from '../src/worker/bundle-workflows.ts';
import { chatWorkflowId } from '../src/workflows/contract.ts';
import type { ParleyTree } from './baseline.ts';
import { apiClient, ChatStream, type Api } from './client.ts';
import { mapLimit, nowMs, within } from './clock.ts';
import { directiveMessage, type Directive } from './directive.ts';
import { startFakeLlm, type FakeLlm } from './fake.ts';
import { floorRuns, type Floor } from './floor/client.ts';
import type { Options } from './options.ts';
import { spawnNode, type Child } from './procs.ts';
import { parseVariant, variantProcess } from './variant.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The node flags a Parley tree ships with: those on bin/parley.js's `#!/usr/bin/env -S node ...` line
 * (the Dockerfile and `npm start` pass the same; test/dev/node-flags.test.ts keeps them in step).
 */
const ADMIN_TOKEN = `bench-admin-${randomUUID()}`;
/** Chats per user: each user token has its own API rate limit (600/min), as real users do. */
const CHATS_PER_USER = 4;
/**
 * The bench's PARLEY_RUN_IDLE_MS: shorter than the 60 s default so figures that need a new run
 * (`ttft_added_ms_new_run`) wait 5 s for a chat's run to close, not a minute. Inside the window a
 * run behaves the same whatever its length.
 */
export const BENCH_RUN_IDLE_MS = 5_000;

export interface BenchChat {
  id: string;
  ownerId: string;
  token: string;
  stream: ChatStream;
}

export interface TurnResult { t0: number; tEnd: number; status: string }

export interface Stack {
  opts: Options;
  config: Config & { databaseUrl: string };
  api: Api;
  temporal: Client;
  /** The bench process's own PostgreSQL access (plain loop, direct submits). */
  services: Services;
  activityDeps: ActivityDeps;
  fake: FakeLlm;
  apiProc: Child;
  workerProc: Child;
  peerProc: Child | null;
  peerTaskQueue: string;
  /** Temporal's floor (bench/floor): its worker runs for the step-overhead and throughput figures. */
  floor: Floor | null;
  temporalVersion: string;
  /** With --profile: where the API and worker write their .cpuprofile files. */
  profileDir: string | null;
  log(msg: string): void;
  /** Fresh idle chats (each created with a one-token first turn), with their streams open. */
  chats(n: number): Promise<BenchChat[]>;
  /** The first `n` chats of a pool shared by figures that only run plain one-step turns in them. */
  sharedChats(n: number): Promise<BenchChat[]>;
  /** POSTs a message and waits until the turn ended (status waiting or error) on the chat's stream. */
  turn(chat: BenchChat, d: Partial<Directive>, timeoutMs?: number): Promise<TurnResult>;
  /**
   * After a turn ended: waits until the chat's run has nothing left to do, closed or idle in its
   * idle window (no workflow task and no activity pending, so the task that began the wait has
   * completed and no title is still being generated).
   */
  settled(chatId: string): Promise<void>;
  /** Waits until the chat's workflow run has closed (its idle window, BENCH_RUN_IDLE_MS, has passed). */
  workflowClosed(chatId: string): Promise<void>;
  /** The last event id of the chat's open run (events of the next turn come after it); 0 when none is open. */
  lastEventId(chatId: string): Promise<number>;
  close(): Promise<void>;
}

/** `parley`: whose API and worker processes to run (the working tree, or a --baseline export). */
export async function startStack(opts: Options, log: (msg: string) => void, parley: ParleyTree): Promise<Stack> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-bench-'));
  await fs.chmod(tmp, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`cleanup: ${String(err)}`));
    await fs.rm(tmp, { recursive: true, force: true });
  };
  try {
    log('starting PostgreSQL, Temporal dev server and the fake provider');
    const [pgServer, temporalServer, fake] = await Promise.all([
      startPostgres(tmp, opts.fsync),
      opts.temporalAddress
        ? { address: opts.temporalAddress, stop: async () => {} }
        : startTemporalDevServer({ headless: true }),
      startFakeLlm(),
    ]);
    stops.push(pgServer.stop, temporalServer.stop, fake.child.stop);
    const admin = new pg.Client({ connectionString: pgServer.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE parley_bench');
    await admin.end();
    const databaseUrl = pgServer.urlFor('parley_bench');
    await migrate(databaseUrl);

    const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
    const peerTaskQueue = `${taskQueue}-peer`;
    const floorTaskQueue = `${taskQueue}-floor`;
    const port = await freePort();
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalServer.address,
      PARLEY_TASK_QUEUE: taskQueue,
      PARLEY_SECRET_KEY: `bench-secret-${randomUUID()}`,
      PARLEY_ADMIN_TOKEN: ADMIN_TOKEN,
      PARLEY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
      PARLEY_DATA_DIR: path.join(tmp, 'data'),
      LOG_LEVEL: 'warn',
      PARLEY_RUN_IDLE_MS: String(BENCH_RUN_IDLE_MS),
      HOST: '127.0.0.1',
      PORT: String(port),
    };
    const profileDir = opts.profile ? await fs.mkdtemp(path.join(os.tmpdir(), 'parley-bench-profiles-')) : null;
    // Default file names carry pid and thread id: the worker's workflow threads get their own files.
    const profiled = (): string[] => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
    log('starting the Parley API and worker processes (the worker bundles its workflows first)');
    // API, then worker: one at a time, so each one's start-up time is its own.
    const nodeFlags = await shippedNodeFlags(parley.root);
    const apiAndWorker = (async () => {
      const apiChild = await spawnNode('api', [...profiled(), ...nodeFlags, path.join(parley.root, 'src/cli.ts'), 'api'], env, /Parley API listening/);
      stops.push(apiChild.stop);
      const workerChild = opts.workerVariant
        ? await spawnNode('worker', [...profiled(), ...nodeFlags, ...variantProcess(parseVariant(opts.workerVariant)).nodeFlags, path.join(root, 'bench/variant-worker.ts')], {
          ...env, ...variantProcess(parseVariant(opts.workerVariant)).env,
          BENCH_VARIANT: opts.workerVariant, ...await prebuiltBundle(tmp, opts.workerVariant),
        }, /Parley worker polling/)
        : await spawnNode('worker', [...profiled(), ...nodeFlags, path.join(parley.root, 'src/cli.ts'), 'worker'], env, /Parley worker polling/);
      stops.push(workerChild.stop);
      return [apiChild, workerChild] as const;
    })();
    const [[apiProc, workerProc], peerProc, floorProc] = await Promise.all([
      apiAndWorker,
      wantsPeer(opts)
        ? spawnNode('peer-worker', [path.join(root, 'bench/peer/worker.ts')], {
          ...env, PEER_TASK_QUEUE: peerTaskQueue, FAKE_BASE_URL: fake.baseUrl, PEER_BATCH_MS: '20',
        }, /peer worker ready/).then((c) => { stops.push(c.stop); return c; })
        : Promise.resolve(null),
      wantsFloor(opts)
        ? spawnNode('floor-worker', [...nodeFlags, path.join(root, 'bench/floor/worker.ts')], {
          ...env, FLOOR_TASK_QUEUE: floorTaskQueue,
        }, /floor worker ready/).then((c) => { stops.push(c.stop); return c; })
        : Promise.resolve(null),
    ]);

    const config = loadConfig(env) as Config & { databaseUrl: string };
    const services = openServices(config);
    stops.push(services.close);
    const interrupts = new InterruptRegistry(databaseUrl);
    await interrupts.start();
    stops.push(() => interrupts.stop());
    const connection = await Connection.connect({ address: temporalServer.address });
    stops.push(() => connection.close());
    const deployment = await deploymentId(services.pool);
    const activityDeps: ActivityDeps = {
      config, pool: services.pool, events: services.events, interrupts, providerFor: createProviderResolver(services.config),
      deploymentId: deployment, sandbox: createSandbox(config.sandbox), workflows: chatWorkflowsOf(connection, config, deployment),
    };
    const temporal = new Client({ connection });
    const temporalVersion = (await connection.workflowService.getSystemInfo({})).serverVersion ?? 'unknown';
    const floor = floorProc ? floorRuns(temporal, floorTaskQueue) : null;
    if (floor) stops.push(() => floor.close());

    const api = apiClient(`http://127.0.0.1:${port}`, ADMIN_TOKEN);
    const provider = await api.call<{ provider: { id: string } }>('POST', '/providers', {
      name: 'bench-fake', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-bench',
    });
    await api.call('POST', '/models', { providerId: provider.provider.id, model: 'bench-model', contextLimit: 10_000_000, isDefault: true });

    const users: Array<{ id: string; token: string }> = [];
    let chatCount = 0;
    const openStreams = new Set<ChatStream>();
    const shared: BenchChat[] = [];
    stops.push(async () => { for (const s of openStreams) s.close(); });

    /** Creates users (serially: usernames are sequential) until chat index `last` has one. */
    const ensureUsers = async (last: number) => {
      while (users.length <= Math.floor(last / CHATS_PER_USER)) {
        const r = await api.call<{ user: { id: string }; token: string }>('POST', '/users', { username: `bench-${users.length}` });
        users.push({ id: r.user.id, token: r.token });
      }
    };

    const stack: Stack = {
      opts, config, api, temporal, services, activityDeps, fake, apiProc, workerProc, peerProc, peerTaskQueue, floor, temporalVersion, profileDir, log,
      async chats(n) {
        const t0 = Date.now();
        const first = chatCount;
        chatCount += n;
        await ensureUsers(first + n - 1);
        const made = await mapLimit(Array.from({ length: n }, (_, i) => first + i), 32, async (i) => {
          const user = users[Math.floor(i / CHATS_PER_USER)]!;
          const r = await api.call<{ chat: { id: string } }>('POST', '/chats', { content: directiveMessage({ tokens: 1 }) }, user.token);
          const stream = new ChatStream(r.chat.id, user.token);
          await stream.open(api.baseUrl);
          openStreams.add(stream);
          if (stream.status !== 'waiting') await within(stream.nextStatus('waiting', 'error'), 120_000, `first turn of chat ${r.chat.id}`);
          if (stream.status !== 'waiting') throw new Error(`chat ${r.chat.id}: first turn ended in ${stream.status}`);
          return { id: r.chat.id, ownerId: user.id, token: user.token, stream };
        });
        // Every figure starts from idle chats.
        await Promise.all(made.map((c) => stack.settled(c.id)));
        if (n > 1) log(`  (${n} chats ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        return made;
      },
      async sharedChats(n) {
        if (shared.length < n) shared.push(...await stack.chats(n - shared.length));
        return shared.slice(0, n);
      },
      async turn(chat, d, timeoutMs = 120_000) {
        const done = chat.stream.nextStatus('waiting', 'error');
        const t0 = nowMs();
        await api.call('POST', `/chats/${chat.id}/messages`, { content: directiveMessage(d) }, chat.token);
        const e = await within(done, timeoutMs, `turn of chat ${chat.id}`);
        return { t0, tEnd: e.at, status: chat.stream.status };
      },
      async settled(chatId) {
        const handle = temporal.workflow.getHandle(chatWorkflowId(chatId));
        const deadline = Date.now() + 60_000;
        for (;;) {
          // Server-side only: a `state` query would be a task for the worker, and 200 chats polling
          // it would load the worker that other chats are being measured on.
          const d = await handle.describe();
          if (d.status.name !== 'RUNNING') return;
          if (!d.raw.pendingWorkflowTask && !d.raw.pendingActivities?.length) return;
          if (Date.now() > deadline) throw new Error(`chat ${chatId}: run still busy after 60 s`);
          await new Promise((r) => setTimeout(r, 20));
        }
      },
      async workflowClosed(chatId) {
        await within(temporal.workflow.getHandle(chatWorkflowId(chatId)).result().catch(() => {}), BENCH_RUN_IDLE_MS + 60_000, `workflow of chat ${chatId} to close`);
      },
      async lastEventId(chatId) {
        const d = await temporal.workflow.getHandle(chatWorkflowId(chatId)).describe().catch(() => null);
        return d?.status.name === 'RUNNING' ? d.historyLength : 0;
      },
      close: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** For the `prebundled` worker variant: the worker's environment pointing at a bundle built here. */
async function prebuiltBundle(tmp: string, variant: string): Promise<Record<string, string>> {
  if (!parseVariant(variant).has('prebundled')) return {};
  const file = path.join(tmp, 'workflow-bundle.js');
  await writeWorkflowBundle(file);
  return { PARLEY_WORKFLOW_BUNDLE: file };
}

const wantsPeer = (opts: Options) => !opts.only || opts.only.has('peer');
const wantsFloor = (opts: Options) => !opts.only || opts.only.has('overhead') || opts.only.has('throughput');

async function startPostgres(tmp: string, fsync: boolean) {
  // persistent: true keeps PostgreSQL's production durability settings (fsync, synchronous_commit);
  // `false` would turn them off like the test suite does. The data dir goes with `tmp` either way.
  const server = await startEmbeddedPostgres({ dataDir: path.join(tmp, 'pg'), persistent: fsync });
  return server;
}
