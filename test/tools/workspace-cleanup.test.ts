// A whole Parley, probed from the agent's own tools (issue 19): a command of a chat reaches none of
// the server's services, and a deleted chat's workspace (and anything its commands started) goes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEPLOYMENT_MARKER } from '../../src/worker/workspaces.ts';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack({ env: { PARLEY_WORKSPACE_SWEEP_MS: '200' } }); });
afterAll(async () => { await stack?.close(); });

const portOf = (url: string): string => new URL(url).port;

async function runCommand(command: string): Promise<{ chatId: string; output: string }> {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply([toolCall('execute', { command })]));
  stack.fake.enqueue('openai', reply(text('done')));
  const created = await stack.http('POST', '/api/v1/chats', { content: 'probe', modelId });
  expect(created.status).toBe(201);
  const chatId: string = created.body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  const { body } = await stack.http('GET', `/api/v1/chats/${chatId}/messages`);
  const result = body.messages.find((m: any) => m.role === 'tool').parts[0].result;
  return { chatId, output: JSON.stringify(result) };
}

describe("a chat's commands", () => {
  test('reach neither PostgreSQL, Temporal nor the API', async () => {
    const targets = {
      postgres: portOf(stack.config.databaseUrl),
      temporal: stack.config.temporalAddress!.split(':')[1]!,
      api: portOf(stack.api.url),
    };
    const probes = Object.entries(targets).map(([name, port]) =>
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null && echo "REACHED-${name}"`);
    const { output } = await runCommand(`${probes.join('; ')}; echo probed`);
    expect(output).toContain('probed');
    expect(output).not.toContain('REACHED');
  });

  test('see no other workspace, nor the workspaces root', async () => {
    const first = await runCommand('echo mine > mine.txt');
    const { output } = await runCommand(`(cat ../${first.chatId}/mine.txt; ls ${stack.config.workspacesDir}; ls /workspace/..) 2>/dev/null; echo probed`);
    expect(output).toContain('probed');
    expect(output).not.toContain('mine\\n');
    expect(output).not.toContain(first.chatId);
  });
});

describe('deleting a chat', () => {
  test('removes its workspace, and nothing its commands started outlives it', async () => {
    const marker = `parley-deleted-${process.pid}`;
    const { chatId } = await runCommand(`echo kept > file.txt; setsid sh -c 'sleep 300 # ${marker}' & echo started`);
    const dir = path.join(stack.config.workspacesDir, chatId);
    expect(await fs.readFile(path.join(dir, 'file.txt'), 'utf8')).toBe('kept\n');
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(marker);

    // Another chat's workspace stays.
    const other = await runCommand('echo other > other.txt');
    expect((await stack.http('DELETE', `/api/v1/chats/${chatId}`)).status).toBe(204);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && await fs.stat(dir).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 100));
    expect(await fs.stat(dir).then(() => true, () => false)).toBe(false);
    expect(await fs.readFile(path.join(stack.config.workspacesDir, other.chatId, 'other.txt'), 'utf8')).toBe('other\n');
  });

  test("a workspaces root of another deployment is never swept", async () => {
    const root = stack.config.workspacesDir;
    const marker = path.join(root, DEPLOYMENT_MARKER);
    const ours = await fs.readFile(marker, 'utf8');
    const stranger = path.join(root, '11111111-1111-4111-8111-111111111111');
    await fs.writeFile(marker, 'another-deployment\n');
    try {
      await fs.mkdir(stranger);
      await new Promise((r) => setTimeout(r, 1000)); // five sweep intervals
      expect(await fs.stat(stranger).then(() => true, () => false)).toBe(true);
    } finally {
      await fs.writeFile(marker, ours);
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && await fs.stat(stranger).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 100));
    expect(await fs.stat(stranger).then(() => true, () => false)).toBe(false);
  });
});

describe('upgrading from workspaces in the data dir', () => {
  test('they move to their own root, and a workspace of the worker\'s files is handed to the sandbox user', async () => {
    const { adoptLegacyWorkspaces } = await import('../../src/worker/workspaces.ts');
    const { ensureWorkspace, createSandbox, defaultSandboxSettings } = await import('../../src/tools/index.ts');
    const base = await fs.mkdtemp(path.join(path.dirname(stack.config.workspacesDir), 'legacy-'));
    const dataDir = path.join(base, 'data');
    const chatId = '22222222-2222-4222-8222-222222222222';
    await fs.mkdir(path.join(dataDir, 'workspaces', chatId, 'src'), { recursive: true });
    await fs.writeFile(path.join(dataDir, 'workspaces', chatId, 'src', 'a.txt'), 'old file\n', { mode: 0o600 });
    const root = `${dataDir}-workspaces`;
    expect(await adoptLegacyWorkspaces(dataDir, root)).toMatch(/moved .*data\/workspaces to .*data-workspaces/);
    expect(await fs.readFile(path.join(root, chatId, 'src', 'a.txt'), 'utf8')).toBe('old file\n');
    expect(await adoptLegacyWorkspaces(dataDir, root)).toBeUndefined(); // once
    const { owner } = createSandbox(defaultSandboxSettings);
    if (owner !== undefined) {
      await ensureWorkspace(root, chatId, owner);
      expect((await fs.stat(path.join(root, chatId, 'src', 'a.txt'))).uid).toBe(owner.uid);
      expect((await fs.stat(path.join(root, chatId, 'src'))).uid).toBe(owner.uid);
    }
    await fs.rm(base, { recursive: true, force: true });
  });
});
