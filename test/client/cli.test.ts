// The `parley` client commands as a user runs them: a child process against a whole Parley.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { httpError, reply, text, toolCall, waitFor } from '../support/fake-providers.ts';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await stack.setupModel('openai');
});
afterAll(async () => { await stack?.close(); });

const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');

interface Run {
  stdout: () => string;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function cli(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, PARLEY_URL: stack.api.url, PARLEY_TOKEN: ADMIN_TOKEN, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { stdout: () => stdout, stderr: () => stderr, kill: (s) => child.kill(s), done };
}

/** A port nobody listens on. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const run = (args: string[], env?: Record<string, string>) => cli(args, env).done;
const chatIdOf = (stderr: string) => stderr.match(/chat ([0-9a-f-]{36})/)?.[1];

test('chat streams the answer, then `chats` lists the chat', async () => {
  stack.fake.enqueue('openai', reply(text('Hello', ' from', ' the fake', ' model.'), { chunkDelayMs: 20 }));
  stack.fake.enqueueCompletion('openai', text('Polite greeting'));
  const r = await run(['chat', 'Say hello please']);
  expect(r.stderr).toMatch(/chat [0-9a-f-]{36}/);
  expect(r.stdout).toBe('Hello from the fake model.\n');
  expect(r.code).toBe(0);
  const chatId = chatIdOf(r.stderr)!;

  const list = await run(['chats']);
  expect(list.code).toBe(0);
  const [header, ...rows] = list.stdout.trimEnd().split('\n');
  expect(header).toMatch(/^ID\s+STATUS\s+TITLE\s+UPDATED$/);
  // The generated title replaces the first words in the background: either may show.
  expect(rows.find((l) => l.startsWith(chatId))).toMatch(/waiting\s+(Say hello please|Polite greeting)\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
});

test('tool calls and results show as one line each; send continues the chat', async () => {
  stack.fake.enqueue('openai',
    reply([text('Let me write it.'), toolCall('write_file', { path: 'notes.txt', content: 'hi' })]),
    reply(toolCall('no_such_tool', { x: 1 })),
    reply(text('All done.')),
  );
  const r = await run(['chat', 'write a file']);
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toBe('Let me write it.');
  expect(lines[1]).toBe('→ write_file(path: "notes.txt", content: "hi")');
  expect(lines[2]).toMatch(/^← ok/);
  expect(lines[3]).toBe('→ no_such_tool(x: 1)');
  expect(lines[4]).toMatch(/^← error \(Unknown tool/);
  expect(lines[5]).toBe('All done.');

  stack.fake.enqueue('openai', reply(text('Second ', 'answer.')));
  const s = await run(['send', chatIdOf(r.stderr)!, 'and again']);
  expect(s.stdout).toBe('Second answer.\n');
  expect(s.code).toBe(0);
});

test('send to a busy chat queues, then streams until the chat settles', async () => {
  stack.fake.enqueue('openai',
    reply(text(...Array.from({ length: 40 }, (_, i) => `a${i} `)), { chunkDelayMs: 100 }),
    reply(text('queued answer')),
  );
  const first = cli(['chat', 'long one']);
  await waitFor(() => first.stdout().includes('a1 '), 20_000, 'first answer streaming');
  const chatId = chatIdOf(first.stderr())!;
  const s = await run(['send', chatId, 'after that']);
  expect(s.stderr).toContain('queued');
  expect(s.stdout).toContain('[your queued message is running now]');
  expect(s.stdout.trimEnd().endsWith('queued answer')).toBe(true);
  expect(s.code).toBe(0);
  // The first client follows the chat until it is idle: that is after the queued turn too.
  const f = await first.done;
  expect(f.stdout).toContain('a39 ');
  expect(f.code).toBe(0);
});

test('a failing turn prints the error and exits 1', async () => {
  stack.fake.enqueue('openai', httpError(401));
  const r = await run(['chat', 'this will fail']);
  expect(r.stdout).toMatch(/error: .*API key/i);
  expect(r.code).toBe(1);
});

test('Ctrl-C interrupts the turn, waits for it to settle and exits', async () => {
  stack.fake.enqueue('openai', reply(text(...Array.from({ length: 200 }, (_, i) => `w${i} `)), { chunkDelayMs: 100 }));
  const c = cli(['chat', 'tell me a long story']);
  await waitFor(() => c.stdout().includes('w2 '), 20_000, 'some streamed text');
  const chatId = chatIdOf(c.stderr())!;
  c.kill('SIGINT');
  const r = await c.done;
  expect(r.code).toBe(130);
  expect(r.stdout).toMatch(/^w0 w1 w2 [\s\S]*\[interrupting.*\]\n[\s\S]*\[interrupted\]\n$/);
  expect(r.stdout).not.toContain('w199');
  const chat = await stack.http('GET', `/api/v1/chats/${chatId}`);
  expect(chat.body.chat.status).toBe('waiting');
});

test('a second Ctrl-C quits at once', async () => {
  stack.fake.enqueue('openai', reply(text(...Array.from({ length: 200 }, (_, i) => `x${i} `)), { chunkDelayMs: 100 }));
  const c = cli(['chat', 'another long story']);
  await waitFor(() => c.stdout().includes('x1 '), 20_000, 'some streamed text');
  const chatId = chatIdOf(c.stderr())!;
  c.kill('SIGINT');
  c.kill('SIGINT');
  expect((await c.done).code).toBe(130);
  await stack.waitForStatus(chatId, 'waiting');
});

/** A TCP proxy in front of the API whose connections the test can cut (and refuse for a while). */
async function startProxy(target: string): Promise<{ url: string; refuse: boolean; cut(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const proxy = {
    url: '',
    refuse: false,
    cut: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((r) => { proxy.cut(); server.close(() => r()); }),
  };
  const server = net.createServer((client) => {
    if (proxy.refuse) return client.destroy();
    const upstream = net.connect(Number(port), hostname);
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => { sockets.delete(a); b.destroy(); });
      a.pipe(b);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return proxy;
}

test('a dropped event stream resumes with Last-Event-ID, also once the deltas gave way to the stored message', async () => {
  const proxy = await startProxy(stack.api.url);
  try {
    const words = Array.from({ length: 30 }, (_, i) => `r${i} `);
    stack.fake.enqueue('openai', reply(text(...words), { chunkDelayMs: 50 }));
    const c = cli(['chat', 'resume me'], { PARLEY_URL: proxy.url });
    await waitFor(() => c.stdout().includes('r3 '), 20_000, 'some streamed text');
    // Down until the turn is over: the reconnect then finds the stored message, not its deltas.
    proxy.refuse = true;
    proxy.cut();
    await stack.waitForStatus(chatIdOf(c.stderr())!, 'waiting');
    proxy.refuse = false;
    const r = await c.done;
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const notices = lines.filter((l) => l.startsWith('['));
    expect(notices).toEqual([expect.stringMatching(/^\[event stream lost \(.+\); reconnecting…\]$/)]);
    // Every word exactly once.
    expect(lines.filter((l) => !l.startsWith('[')).join('')).toBe(words.join('').trimEnd());
  } finally {
    await proxy.close();
  }
});

test('admin commands: users create, providers add (key from env), models add by provider name', async () => {
  const u = await run(['users', 'create', 'cli-bob']);
  expect(u.code).toBe(0);
  const token = u.stdout.trim();
  expect(token).toMatch(/^\S{16,}$/);
  expect(u.stderr).toContain('cli-bob');

  const mine = await run(['chats'], { PARLEY_TOKEN: token });
  expect(mine.stdout).toContain('No chats yet');
  const denied = await run(['users', 'create', 'cli-eve'], { PARLEY_TOKEN: token });
  expect(denied.code).toBe(1);
  expect(denied.stderr).toMatch(/^error: .+ \(HTTP 403\)\n$/);

  const p = await run(['providers', 'add', 'cli-openai', '--type', 'openai', '--base-url', stack.fake.openaiBaseUrl, '--api-key-env', 'CLI_TEST_KEY'], { CLI_TEST_KEY: 'sk-from-env' });
  expect(p.stdout).toMatch(/^Created provider cli-openai \(openai, with API key\): [0-9a-f-]{36}\n$/);
  expect(p.code).toBe(0);

  const m = await run(['models', 'add', 'gpt-cli', '--provider', 'cli-openai', '--context-limit', '100000', '--display-name', 'GPT CLI', '--max-output-tokens', '1000']);
  expect(m.stdout).toMatch(/^Created model cli-openai\/gpt-cli: [0-9a-f-]{36}\n$/);
  expect(m.code).toBe(0);

  stack.fake.enqueue('openai', reply(text('via the named model')));
  const r = await run(['chat', 'hi', '--model', 'GPT CLI']);
  expect(r.stdout).toBe('via the named model\n');
  expect(stack.fake.requests('openai').at(-1).model).toBe('gpt-cli');
  expect(stack.fake.requestHeaders('openai').at(-1)!.authorization).toBe('Bearer sk-from-env');
});

test('errors: API errors with their status, unreachable API, missing token, bad usage', async () => {
  const missing = await run(['send', '00000000-0000-4000-8000-000000000000', 'hello']);
  expect(missing.stderr).toBe('error: chat not found (HTTP 404)\n');
  expect(missing.code).toBe(1);

  const interrupt = await run(['interrupt', '00000000-0000-4000-8000-000000000000']);
  expect(interrupt.stderr).toBe('error: chat not found (HTTP 404)\n');

  const port = await freePort();
  const down = await run(['chats'], { PARLEY_URL: `http://127.0.0.1:${port}/` });
  expect(down.stderr).toMatch(new RegExp(`^error: cannot reach Parley at http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\)`));
  expect(down.code).toBe(1);

  const noToken = await run(['chats'], { PARLEY_TOKEN: '' });
  expect(noToken.stderr).toMatch(/PARLEY_TOKEN/);
  expect(noToken.code).toBe(2);

  const usage = await run(['models', 'add', 'x', '--provider', 'p']);
  expect(usage.stderr).toMatch(/--context-limit is required/);
  expect(usage.code).toBe(2);
});
