// The workspaces the tool tests (test/tools/*.test.ts) run the tools in: a real temporary directory
// per test file, a fresh workspace per test, and the calls and checks the tests make.
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { createSandbox, defaultSandboxSettings, defaultToolLimits, ensureWorkspace, runTool } from '../../src/tools/index.ts';
import type { ToolContext, ToolLimits, ToolOutcome } from '../../src/tools/index.ts';

// Set by the hooks of useToolWorkspaces(); importers see the current values.
export let base: string; // real path of the per-file temp dir
export let root: string; // workspace root
export let ws: string; // the workspace of the current test
export let outside: string; // a directory next to the workspaces that tools must never reach

/** Registers the hooks: the temp dir (with `outside`) for the file, a fresh workspace for each test. */
export function useToolWorkspaces(): void {
  let n = 0;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'parley-tools-')));
    root = join(base, 'workspaces');
    outside = join(base, 'outside');
    await mkdir(outside);
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  beforeEach(async () => {
    ws = await ensureWorkspace(root, `chat-${++n}`);
    await writeFile(join(outside, 'secret.txt'), 'top secret\n');
  });
}

const unsandboxed = createSandbox({ ...defaultSandboxSettings, mode: 'none' });

export function ctx(limits: Partial<ToolLimits> = {}, signal = new AbortController().signal): ToolContext {
  // The unsandboxed mode (PARLEY_EXECUTE_SANDBOX=none); test/tools/sandbox.test.ts covers the sandbox.
  return { workspaceDir: ws, signal, limits: { ...defaultToolLimits, ...limits }, sandbox: unsandboxed };
}

export const run = (name: string, args: unknown, limits: Partial<ToolLimits> = {}): Promise<ToolOutcome> =>
  runTool(name, args, ctx(limits));

/** The model-facing error message of a call expected to fail. */
export async function errorOf(name: string, args: unknown): Promise<string> {
  const out = await run(name, args);
  expect(out.isError, `expected ${name} to fail, got ${JSON.stringify(out.result)}`).toBe(true);
  expect(typeof out.result).toBe('string');
  return out.result as string;
}

export async function okText(name: string, args: unknown, limits: Partial<ToolLimits> = {}): Promise<string> {
  const out = await run(name, args, limits);
  expect(out.isError, JSON.stringify(out.result)).toBe(false);
  return out.result as string;
}
