import fs from 'node:fs';
import path from 'node:path';
import { isFileWithAccess } from './shared/files.ts';
import type { SandboxSettings } from './tools/sandbox.ts';

/** Parley's whole configuration, read once from the environment and validated at start. */
export interface Config {
  /** Unset: `parley dev` starts an embedded PostgreSQL under the data dir. */
  databaseUrl: string | undefined;
  /** Unset: `parley dev` starts a Temporal dev server. */
  temporalAddress: string | undefined;
  temporalNamespace: string;
  taskQueue: string;
  port: number;
  host: string;
  adminToken: string | undefined;
  secretKey: string | undefined;
  openaiApiKey: string | undefined;
  anthropicApiKey: string | undefined;
  dataDir: string;
  /** The chats' workspaces: their own root, never inside the data dir (whose secrets tools must not reach). */
  workspacesDir: string;
  temporalCliPath: string | undefined;
  /** Port of the dev server `parley dev` starts. */
  temporalPort: number;
  temporalUiPort: number;
  /** A bundle from `parley bundle-workflows`. Unset: the worker bundles at start (2–3 s, in a child process). */
  workflowBundlePath: string | undefined;
  maxSteps: number;
  /**
   * How long a chat's workflow run stays open after its queue empties, waiting for the next message
   * (0: it completes at once). A follow-up within this window is a signal to a cached run instead
   * of a new run.
   */
  runIdleMs: number;
  /**
   * Activities (LLM steps, `execute` tool runs, summaries, titles) one worker runs at once. An LLM step
   * holds its slot while it streams, so this is about how many chats one worker serves at a time; the
   * others wait in Temporal's task queue until a step ends.
   */
  workerMaxActivities: number;
  /** Bounds all retries of one LLM step (Temporal schedule-to-close). */
  llmStepTimeoutMs: number;
  eventCoalesceMs: number;
  /** After SIGTERM, running steps get this long to finish before they fail over to another worker. */
  shutdownGraceMs: number;
  /** Bound on one summarisation call (context compaction). */
  summaryTimeoutMs: number;
  toolLimits: { executeTimeoutMs: number; executeMaxTimeoutMs: number; outputCapBytes: number };
  /** How `execute` is confined (src/tools/sandbox.ts, docs/SECURITY.md). */
  sandbox: SandboxSettings;
  /** Between the worker's sweeps that remove the workspaces of deleted chats. */
  workspaceSweepMs: number;
  bodyLimitBytes: number;
  /**
   * Between the reconciler's passes (src/chats/reconciler.ts): how soon a chat left without a running
   * workflow (e.g. saved while Temporal was down) is started again.
   */
  reconcileIntervalMs: number;
  /** Requests per minute per user (per client address for requests without a valid token); 0 disables rate limiting. */
  rateLimitPerMinute: number;
  /** API tokens a member may hold at once (admins are not capped). */
  maxTokensPerUser: number;
  /** Event streams (chat streams and watches) one user may hold open on one API process. */
  maxStreamsPerUser: number;
  /** Sub-agents (src/chats/agents.ts): how deep they may nest, how many of one parent run at once, the longest wait_agent. */
  subagents: { maxDepth: number; maxRunning: number; maxWaitSeconds: number };
  /** How long a turn paused in requires_action waits for a person before its calls get "no answer in time". */
  actionTimeoutMs: number;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Whether `p` is `dir` or below it. */
function isWithin(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be an integer between ${min} and ${max}`);
      return def;
    }
    return n;
  };

  const databaseUrl = str('DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// connection URL');
  }
  const temporalAddress = str('TEMPORAL_ADDRESS');
  if (temporalAddress && !/^[^\s/:]+:\d+$/.test(temporalAddress)) {
    problems.push(`TEMPORAL_ADDRESS=${JSON.stringify(temporalAddress)} must be host:port, e.g. localhost:7233`);
  }
  const taskQueue = str('PARLEY_TASK_QUEUE') ?? 'parley';
  const secretKey = str('PARLEY_SECRET_KEY');
  if (secretKey !== undefined && secretKey.length < 16) {
    problems.push('PARLEY_SECRET_KEY must be at least 16 characters (it encrypts provider API keys at rest)');
  }
  const adminToken = str('PARLEY_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) {
    problems.push('PARLEY_ADMIN_TOKEN must be at least 16 characters');
  }
  const dataDir = path.resolve(str('PARLEY_DATA_DIR') ?? '.parley');
  const workspacesDir = path.resolve(str('PARLEY_WORKSPACES_DIR') ?? `${dataDir}-workspaces`);
  if (isWithin(dataDir, workspacesDir)) {
    problems.push(`PARLEY_WORKSPACES_DIR=${JSON.stringify(workspacesDir)} must not be inside the data dir ${JSON.stringify(dataDir)}: it holds the server's secrets`);
  }
  const oneOf = <T extends string>(name: string, values: readonly T[], def: T): T => {
    const raw = str(name)?.toLowerCase();
    if (raw === undefined) return def;
    if ((values as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${name}=${JSON.stringify(raw)} must be one of ${values.join(', ')}`);
    return def;
  };
  const sandboxMode = oneOf('PARLEY_EXECUTE_SANDBOX', ['bwrap', 'none'] as const, 'bwrap');
  const roBinds = (str('PARLEY_EXECUTE_RO_BINDS') ?? '').split(':').filter((p) => p !== '');
  for (const p of roBinds.filter((b) => !path.isAbsolute(b))) problems.push(`PARLEY_EXECUTE_RO_BINDS: ${JSON.stringify(p)} must be an absolute path`);
  for (const p of roBinds.filter((b) => path.isAbsolute(b) && (isWithin(b, dataDir) || isWithin(dataDir, b) || isWithin(b, workspacesDir)))) {
    problems.push(`PARLEY_EXECUTE_RO_BINDS: ${JSON.stringify(p)} would show the data dir or other chats' workspaces to commands`);
  }
  const executeUid = str('PARLEY_EXECUTE_UID') === undefined ? undefined : int('PARLEY_EXECUTE_UID', 65534, 1, 2 ** 32 - 2);
  const executeGid = str('PARLEY_EXECUTE_GID') === undefined ? undefined : int('PARLEY_EXECUTE_GID', 65534, 1, 2 ** 32 - 2);
  const workflowBundle = str('PARLEY_WORKFLOW_BUNDLE');
  if (workflowBundle !== undefined && !isFileWithAccess(workflowBundle, fs.constants.R_OK)) {
    problems.push(`PARLEY_WORKFLOW_BUNDLE=${JSON.stringify(workflowBundle)} is not a readable file (build one with \`parley bundle-workflows <file>\`)`);
  }

  const config: Config = {
    databaseUrl,
    temporalAddress,
    temporalNamespace: str('TEMPORAL_NAMESPACE') ?? 'default',
    taskQueue,
    port: int('PORT', 8080, 0, 65535),
    host: str('HOST') ?? '0.0.0.0',
    adminToken,
    secretKey,
    openaiApiKey: str('OPENAI_API_KEY'),
    anthropicApiKey: str('ANTHROPIC_API_KEY'),
    dataDir,
    workspacesDir,
    temporalCliPath: str('TEMPORAL_CLI_PATH'),
    temporalPort: int('PARLEY_TEMPORAL_PORT', 7233, 1, 65535),
    temporalUiPort: int('PARLEY_TEMPORAL_UI_PORT', 8233, 1, 65535),
    workflowBundlePath: workflowBundle && path.resolve(workflowBundle),
    maxSteps: int('PARLEY_MAX_STEPS', 100, 1, 10_000),
    runIdleMs: int('PARLEY_RUN_IDLE_MS', 60_000, 0, 3_600_000),
    workerMaxActivities: int('PARLEY_WORKER_MAX_ACTIVITIES', 500, 1, 100_000),
    llmStepTimeoutMs: int('PARLEY_LLM_STEP_TIMEOUT_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
    eventCoalesceMs: int('PARLEY_EVENT_COALESCE_MS', 20, 0, 1_000),
    shutdownGraceMs: int('PARLEY_SHUTDOWN_GRACE_MS', 3_000, 0, 3_600_000),
    summaryTimeoutMs: int('PARLEY_SUMMARY_TIMEOUT_MS', 90_000, 1_000, 3_600_000),
    toolLimits: {
      executeTimeoutMs: int('PARLEY_EXECUTE_TIMEOUT_MS', 10_000, 100, 24 * 3_600_000),
      executeMaxTimeoutMs: int('PARLEY_EXECUTE_MAX_TIMEOUT_MS', 600_000, 100, 24 * 3_600_000),
      outputCapBytes: 32 * 1024,
    },
    sandbox: {
      mode: sandboxMode,
      bwrapPath: str('PARLEY_BWRAP_PATH'),
      network: oneOf('PARLEY_EXECUTE_NETWORK', ['none', 'host'] as const, 'none'),
      uid: executeUid,
      gid: executeGid,
      roBinds,
      limits: {
        memoryMb: int('PARLEY_EXECUTE_MEMORY_MB', 4096, 64, 1024 * 1024),
        maxProcesses: int('PARLEY_EXECUTE_MAX_PROCESSES', 512, 8, 1_000_000),
        maxFileMb: int('PARLEY_EXECUTE_MAX_FILE_MB', 1024, 1, 1024 * 1024),
        cpuSeconds: int('PARLEY_EXECUTE_CPU_SECONDS', 600, 1, 7 * 24 * 3600),
      },
    },
    workspaceSweepMs: int('PARLEY_WORKSPACE_SWEEP_MS', 60_000, 100, 24 * 3_600_000),
    reconcileIntervalMs: int('PARLEY_RECONCILE_INTERVAL_MS', 5_000, 100, 3_600_000),
    bodyLimitBytes: int('PARLEY_BODY_LIMIT_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
    rateLimitPerMinute: int('PARLEY_RATE_LIMIT_PER_MINUTE', 600, 0, 1_000_000),
    maxTokensPerUser: int('PARLEY_MAX_TOKENS_PER_USER', 50, 1, 100_000),
    maxStreamsPerUser: int('PARLEY_MAX_STREAMS_PER_USER', 100, 1, 1_000_000),
    subagents: {
      // 0 offers no sub-agent tools at all; 1: a top-level chat may spawn, its children may not.
      maxDepth: int('PARLEY_SUBAGENT_MAX_DEPTH', 1, 0, 5),
      maxRunning: int('PARLEY_SUBAGENT_MAX_RUNNING', 5, 1, 100),
      maxWaitSeconds: int('PARLEY_SUBAGENT_MAX_WAIT_SECONDS', 3_600, 1, 7 * 24 * 3_600),
    },
    actionTimeoutMs: int('PARLEY_ACTION_TIMEOUT_MS', 24 * 3_600_000, 100, 365 * 24 * 3_600_000),
    logLevel: str('LOG_LEVEL')?.toLowerCase() ?? 'info',
  };
  if (!LOG_LEVELS.includes(config.logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(config.logLevel)} must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (config.toolLimits.executeTimeoutMs > config.toolLimits.executeMaxTimeoutMs) {
    problems.push('PARLEY_EXECUTE_TIMEOUT_MS must not exceed PARLEY_EXECUTE_MAX_TIMEOUT_MS');
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}
