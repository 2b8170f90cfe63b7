import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('configuration from the environment', () => {
  test('defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      databaseUrl: undefined, temporalAddress: undefined, temporalNamespace: 'default', taskQueue: 'parley',
      port: 8080, maxSteps: 100, eventCoalesceMs: 20, rateLimitPerMinute: 600, logLevel: 'info',
      toolLimits: { executeTimeoutMs: 10_000, executeMaxTimeoutMs: 600_000, outputCapBytes: 32 * 1024 },
    });
    expect(c.dataDir).toBe(path.resolve('.parley'));
    // Beside the data dir, never in it: commands must not reach its secrets.
    expect(c.workspacesDir).toBe(path.resolve('.parley-workspaces'));
    expect(c.sandbox).toEqual({
      mode: 'bwrap', bwrapPath: undefined, network: 'none', uid: undefined, gid: undefined, roBinds: [],
      limits: { memoryMb: 4096, maxProcesses: 512, maxFileMb: 1024, cpuSeconds: 600 },
    });
    expect(c.runIdleMs).toBe(60_000);
    expect(c.workerMaxActivities).toBe(500);
  });

  test('values are read and trimmed', () => {
    const c = loadConfig({
      DATABASE_URL: ' postgres://u:p@db:5432/parley ', TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'prod',
      PARLEY_TASK_QUEUE: 'q', PORT: '9000', PARLEY_DATA_DIR: '/var/lib/parley', PARLEY_MAX_STEPS: '7', LOG_LEVEL: 'WARN',
    });
    expect(c).toMatchObject({
      databaseUrl: 'postgres://u:p@db:5432/parley', temporalAddress: 'temporal:7233', temporalNamespace: 'prod',
      taskQueue: 'q', port: 9000, dataDir: '/var/lib/parley', workspacesDir: '/var/lib/parley-workspaces', maxSteps: 7, logLevel: 'warn',
    });
  });

  test('every bad value gets its own clear message, all at once', () => {
    let err: unknown;
    try {
      loadConfig({
        DATABASE_URL: 'mysql://x', TEMPORAL_ADDRESS: 'http://temporal', PORT: 'eighty', PARLEY_SECRET_KEY: 'short',
        PARLEY_ADMIN_TOKEN: 'tiny', PARLEY_MAX_STEPS: '0', PARLEY_RUN_IDLE_MS: '-1', PARLEY_WORKER_MAX_ACTIVITIES: '0', LOG_LEVEL: 'loud',
        PARLEY_EXECUTE_TIMEOUT_MS: '5000', PARLEY_EXECUTE_MAX_TIMEOUT_MS: '1000',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual([
      expect.stringMatching(/^DATABASE_URL must be a postgres:\/\//),
      expect.stringMatching(/^TEMPORAL_ADDRESS="http:\/\/temporal" must be host:port/),
      expect.stringMatching(/^PARLEY_SECRET_KEY must be at least 16 characters/),
      expect.stringMatching(/^PARLEY_ADMIN_TOKEN must be at least 16 characters/),
      expect.stringMatching(/^PORT="eighty" must be an integer between 0 and 65535/),
      expect.stringMatching(/^PARLEY_MAX_STEPS="0" must be an integer between 1 and/),
      expect.stringMatching(/^PARLEY_RUN_IDLE_MS="-1" must be an integer between 0 and 3600000/),
      expect.stringMatching(/^PARLEY_WORKER_MAX_ACTIVITIES="0" must be an integer between 1 and/),
      expect.stringMatching(/^LOG_LEVEL="loud" must be one of/),
      expect.stringMatching(/^PARLEY_EXECUTE_TIMEOUT_MS must not exceed/),
    ]);
    expect((err as Error).message).toMatch(/^Invalid configuration:\n {2}- DATABASE_URL/);
  });
});

describe('PARLEY_WORKFLOW_BUNDLE', () => {
  test('unset: the worker bundles at start', () => {
    expect(loadConfig({}).workflowBundlePath).toBeUndefined();
  });

  test('a readable file, resolved to an absolute path', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-config-'));
    try {
      await fs.writeFile(path.join(dir, 'bundle.js'), '');
      expect(loadConfig({ PARLEY_WORKFLOW_BUNDLE: path.relative(process.cwd(), path.join(dir, 'bundle.js')) }).workflowBundlePath)
        .toBe(path.join(dir, 'bundle.js'));
      // A directory (say, a volume mounted at the wrong path) is refused like a missing file.
      expect(() => loadConfig({ PARLEY_WORKFLOW_BUNDLE: dir })).toThrow(/PARLEY_WORKFLOW_BUNDLE=".*" is not a readable file/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('a missing file is a configuration error that says how to build one', () => {
    expect(() => loadConfig({ PARLEY_WORKFLOW_BUNDLE: '/nonexistent/bundle.js' }))
      .toThrow(/PARLEY_WORKFLOW_BUNDLE="\/nonexistent\/bundle.js" is not a readable file \(build one with `parley bundle-workflows <file>`\)/);
  });
});

describe('the parley binary refuses bad configuration with a message, not a stack trace', () => {
  const run = async (args: string[], env: Record<string, string>) => {
    const { execFile } = await import('node:child_process');
    return new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/parley.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, _out, stderr) =>
        resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stderr }));
    });
  };

  test('`parley worker` without DATABASE_URL and TEMPORAL_ADDRESS', async () => {
    const r = await run(['worker'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL is required for `parley worker`');
    expect(r.stderr).toContain('TEMPORAL_ADDRESS is required');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a bad value', async () => {
    const r = await run(['api'], { PORT: '99999' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PORT="99999" must be an integer between 0 and 65535');
  });

  test('`parley worker` with a missing PARLEY_WORKFLOW_BUNDLE', async () => {
    const r = await run(['worker'], { PARLEY_WORKFLOW_BUNDLE: '/nonexistent/bundle.js' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PARLEY_WORKFLOW_BUNDLE="/nonexistent/bundle.js" is not a readable file');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('an unknown command', async () => {
    const r = await run(['frobnicate'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('the execute sandbox and the workspaces dir', () => {
  test('values are read', () => {
    const c = loadConfig({
      PARLEY_EXECUTE_SANDBOX: 'NONE', PARLEY_EXECUTE_NETWORK: 'host', PARLEY_BWRAP_PATH: '/opt/bwrap', PARLEY_EXECUTE_UID: '2000',
      PARLEY_EXECUTE_GID: '2001', PARLEY_EXECUTE_RO_BINDS: '/opt/toolchain:/srv/sdk', PARLEY_EXECUTE_MEMORY_MB: '512',
      PARLEY_EXECUTE_MAX_PROCESSES: '64', PARLEY_EXECUTE_MAX_FILE_MB: '10', PARLEY_EXECUTE_CPU_SECONDS: '30',
      PARLEY_WORKSPACES_DIR: '/srv/ws', PARLEY_WORKSPACE_SWEEP_MS: '1000',
    });
    expect(c.sandbox).toEqual({
      mode: 'none', bwrapPath: '/opt/bwrap', network: 'host', uid: 2000, gid: 2001, roBinds: ['/opt/toolchain', '/srv/sdk'],
      limits: { memoryMb: 512, maxProcesses: 64, maxFileMb: 10, cpuSeconds: 30 },
    });
    expect(c.workspacesDir).toBe('/srv/ws');
    expect(c.workspaceSweepMs).toBe(1000);
  });

  test('bad values are refused with clear messages', () => {
    let err: unknown;
    try {
      loadConfig({
        PARLEY_DATA_DIR: '/var/lib/parley', PARLEY_WORKSPACES_DIR: '/var/lib/parley/ws', PARLEY_EXECUTE_SANDBOX: 'docker',
        PARLEY_EXECUTE_NETWORK: 'full', PARLEY_EXECUTE_RO_BINDS: 'relative:/var/lib', PARLEY_EXECUTE_UID: '0',
      });
    } catch (e) {
      err = e;
    }
    expect((err as ConfigError).problems).toEqual([
      expect.stringMatching(/^PARLEY_WORKSPACES_DIR="\/var\/lib\/parley\/ws" must not be inside the data dir/),
      expect.stringMatching(/^PARLEY_EXECUTE_SANDBOX="docker" must be one of bwrap, none/),
      expect.stringMatching(/^PARLEY_EXECUTE_RO_BINDS: "relative" must be an absolute path/),
      expect.stringMatching(/^PARLEY_EXECUTE_RO_BINDS: "\/var\/lib" would show the data dir/),
      expect.stringMatching(/^PARLEY_EXECUTE_UID="0" must be an integer between 1 and/),
      expect.stringMatching(/^PARLEY_EXECUTE_NETWORK="full" must be one of none, host/),
    ]);
  });
});
