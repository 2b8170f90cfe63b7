// The dev server's settings are written twice: src/dev/temporal.ts (parley dev, tests, bench) and
// docker-compose.yml. Without the dynamic config a single-shard dev server throttles its task
// queues (see devServerDynamicConfig), so the two must not drift apart.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { devServerDynamicConfig, devServerSettingArgs } from '../../src/dev/temporal.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function pairs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.startsWith('--') && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) out.push(`${args[i]} ${args[++i]}`);
  }
  return out;
}

test('docker-compose.yml starts Temporal with the same search attributes and dynamic config as parley dev', async () => {
  const compose = await fs.readFile(path.join(root, 'docker-compose.yml'), 'utf8');
  const command = /temporal:\n(?:.*\n)*?\s+command: >\n((?:\s{6}.*\n)+)/.exec(compose)?.[1];
  expect(command, 'the temporal service command in docker-compose.yml').toBeDefined();
  const composePairs = pairs(command!.trim().split(/\s+/));
  expect(composePairs).toEqual(expect.arrayContaining(pairs(devServerSettingArgs())));
});

test('extra dynamic config is added to, and may override, the defaults', () => {
  const keys = Object.keys(devServerDynamicConfig);
  expect(keys.length).toBeGreaterThan(0);
  const args = pairs(devServerSettingArgs({ 'limit.historyCount.suggestContinueAsNew': 30, [keys[0]!]: 5 }));
  expect(args).toContain('--dynamic-config-value limit.historyCount.suggestContinueAsNew=30');
  expect(args).toContain(`--dynamic-config-value ${keys[0]}=5`);
  expect(args).not.toContain(`--dynamic-config-value ${keys[0]}=${devServerDynamicConfig[keys[0] as keyof typeof devServerDynamicConfig]}`);
  for (const key of keys.slice(1)) expect(args.some((a) => a.startsWith(`--dynamic-config-value ${key}=`))).toBe(true);
});

test('the compose worker installs and allows the execute sandbox', async () => {
  const compose = await fs.readFile(path.join(root, 'docker-compose.yml'), 'utf8');
  const worker = /\n {2}worker:\n((?: {4}.*\n|\s*\n)+)/.exec(compose)?.[1] ?? '';
  for (const opt of ['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined']) expect(worker).toContain(`- ${opt}`);
  const dockerfile = await fs.readFile(path.join(root, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/apt-get install[^\n]*\bbubblewrap\b/);
});
