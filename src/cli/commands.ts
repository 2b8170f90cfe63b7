// `parley chat | send | chats | interrupt | users | providers | models`: the client side of the
// binary. It talks to a running API over HTTP only (PARLEY_URL, PARLEY_TOKEN) and never needs the
// server's configuration.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApiClient, ApiError, DEFAULT_URL, NetworkError } from './api.ts';
import { CLIENT_COMMANDS, CLIENT_USAGE } from './usage.ts';
import { openChatStream, type ChatStream, type ChatStreamEvent } from './events.ts';
import { followTurn, TurnTracker, type OurMessage } from './follow.ts';
import { Renderer } from './render.ts';
import { isUuid } from '../shared/ids.ts';

export { CLIENT_COMMANDS, CLIENT_USAGE };

export interface ClientIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

const defaultIo = (): ClientIo => ({ out: process.stdout, err: process.stderr, env: process.env, stdin: process.stdin });

/** Wrong arguments or missing settings: exit code 2 with a hint. */
class UsageError extends Error {}

const EXIT_INTERRUPTED = 130;

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface Context {
  io: ClientIo;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  api(): ApiClient;
}

interface CommandSpec {
  usage: string;
  options: ParseArgsConfig['options'];
  run(ctx: Context): Promise<number>;
}

/** Runs a client command; resolves with the process exit code. */
export async function runClientCommand(argv: string[], io: ClientIo = defaultIo()): Promise<number> {
  const [command, ...rest] = argv;
  const spec = command ? COMMANDS[command] : undefined;
  if (!spec) {
    io.err.write(`error: unknown command "${command ?? ''}"\n\n${CLIENT_USAGE}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.out.write(`Usage: parley ${spec.usage}\n`);
      return 0;
    }
    let client: ApiClient | undefined;
    const ctx: Context = {
      io,
      values: values as Context['values'],
      positionals,
      api: () => (client ??= connect(io.env, values as Context['values'])),
    };
    return await spec.run(ctx);
  } catch (err) {
    return report(io, err, spec.usage);
  }
}

function report(io: ClientIo, err: unknown, usage: string): number {
  if (err instanceof ApiError) {
    io.err.write(`error: ${err.message} (HTTP ${err.status})\n`);
    return 1;
  }
  if (err instanceof NetworkError) {
    io.err.write(`error: ${err.message}. Is the API running? Set PARLEY_URL or --url.\n`);
    return 1;
  }
  // parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION.
  const code = (err as { code?: unknown }).code;
  if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    io.err.write(`error: ${(err as Error).message}\nUsage: parley ${usage}\n`);
    return 2;
  }
  io.err.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

function connect(env: NodeJS.ProcessEnv, values: Context['values']): ApiClient {
  const token = str(values.token) ?? env.PARLEY_TOKEN;
  if (!token) {
    throw new UsageError('no API token: set PARLEY_TOKEN or pass --token (`parley dev` prints the admin token; `parley users create` makes more)');
  }
  const url = str(values.url) ?? (env.PARLEY_URL || DEFAULT_URL);
  try {
    return new ApiClient({ baseUrl: url, token });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function positionals(ctx: Context, names: string[]): string[] {
  const got = ctx.positionals;
  if (got.length < names.length) throw new UsageError(`missing ${names.slice(got.length).map((n) => `<${n}>`).join(' ')}`);
  if (got.length > names.length) throw new UsageError(`unexpected argument "${got[names.length]}" (quote a message with spaces)`);
  return got;
}

function positiveInt(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag} must be a positive integer`);
  }
  return n;
}

/** The message text; "-" reads it from stdin. */
async function messageText(ctx: Context, arg: string): Promise<string> {
  let text = arg;
  if (arg === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.io.stdin) chunks.push(Buffer.from(chunk as Buffer));
    text = Buffer.concat(chunks).toString('utf8');
  }
  if (!text.trim()) throw new UsageError('the message is empty');
  return text;
}

// ---- chat / send: send, then stream the turn ----

/** Ctrl-C handling while following a turn: the first interrupts it, a second quits at once. */
class InterruptControl {
  private readonly api: ApiClient;
  private readonly renderer: Renderer;
  private chatId: string | null = null;
  private lastStatus: string | null = null;
  private resendOnRunning = false;
  requested = false;

  constructor(api: ApiClient, renderer: Renderer) {
    this.api = api;
    this.renderer = renderer;
  }

  readonly onSigint = (): void => {
    if (this.requested) {
      this.renderer.finish();
      process.exit(EXIT_INTERRUPTED);
    }
    this.requested = true;
    this.renderer.notice('[interrupting… press Ctrl-C again to quit at once]', 'yellow');
    void this.send();
  };

  install(): void {
    process.on('SIGINT', this.onSigint);
  }

  uninstall(): void {
    process.off('SIGINT', this.onSigint);
  }

  setChat(chatId: string): void {
    this.chatId = chatId;
    if (this.requested) void this.send();
  }

  onEvent(event: ChatStreamEvent): void {
    if (event.type !== 'status') return;
    this.lastStatus = event.data.status;
    // The workflow ignores an interrupt that arrives before its turn runs: ask again once it does.
    if (this.resendOnRunning && event.data.status === 'running') {
      this.resendOnRunning = false;
      setTimeout(() => void this.send(), 250).unref();
    }
  }

  private async send(): Promise<void> {
    if (!this.chatId) return; // sent once the chat exists (setChat)
    const chatId = this.chatId;
    if (this.lastStatus !== 'running') this.resendOnRunning = true;
    try {
      const res = await this.api.request<{ interrupted: boolean }>('POST', `/chats/${encodeURIComponent(chatId)}/interrupt`, {});
      if (!res.interrupted) this.resendOnRunning = true;
    } catch (err) {
      this.renderer.notice(`[could not interrupt: ${err instanceof Error ? err.message : String(err)}]`, 'red');
    }
  }
}

function useColor(io: ClientIo): boolean {
  return Boolean(io.out.isTTY) && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
}

/** One notice per outage, not one per attempt; the stream gives up (and says why) if it lasts. */
function reconnectNotice(renderer: Renderer) {
  return ({ attempt, error }: { attempt: number; error: unknown }) => {
    if (attempt !== 1) return;
    const why = error instanceof Error ? error.message : String(error);
    renderer.notice(`[event stream lost (${why}); reconnecting…]`, 'yellow');
  };
}

/** Streams until our turn settles and maps the outcome to an exit code. */
async function follow(stream: ChatStream, renderer: Renderer, control: InterruptControl, ours: OurMessage, queued: boolean): Promise<number> {
  const tracker = new TurnTracker(ours);
  let announced = !queued;
  try {
    const settled = await followTurn(stream, renderer, tracker, {
      onEvent: (event) => {
        control.onEvent(event);
        if (!announced && tracker.started) {
          announced = true;
          renderer.notice('[your queued message is running now]');
        }
      },
    });
    if (!settled) return 1;
    if (settled.status === 'error') return 1;
    if (!control.requested) return 0;
    renderer.notice('[interrupted]', 'yellow');
    return EXIT_INTERRUPTED;
  } catch (err) {
    renderer.finish(); // the error message goes to stderr: not after a half-written line
    throw err;
  } finally {
    stream.close();
  }
}

/** Model id, or a model name / display name resolved through `GET /models`. */
async function resolveModel(api: ApiClient, model: string): Promise<string> {
  if (isUuid(model)) return model;
  const { models } = await api.request<{ models: Array<{ id: string; model: string; displayName: string | null; providerName: string }> }>('GET', '/models');
  const matches = models.filter((m) => m.model === model || m.displayName === model || `${m.providerName}/${m.model}` === model);
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length > 1) {
    throw new UsageError(`--model "${model}" is ambiguous: ${matches.map((m) => `${m.providerName}/${m.model} (${m.id})`).join(', ')}`);
  }
  throw new UsageError(`no model "${model}"; known: ${models.map((m) => `${m.providerName}/${m.model}`).join(', ') || 'none'}`);
}

async function runChat(ctx: Context): Promise<number> {
  const [arg] = positionals(ctx, ['message']);
  const content = await messageText(ctx, arg!);
  const api = ctx.api();
  const model = str(ctx.values.model);
  const modelId = model ? await resolveModel(api, model) : undefined;
  const renderer = new Renderer(ctx.io.out, { color: useColor(ctx.io) });
  const control = new InterruptControl(api, renderer);
  control.install();
  try {
    const { chat, message } = await api.create<{ chat: { id: string }; message: { id: string } }>(
      '/chats', { content, ...(modelId ? { modelId } : {}) },
    );
    ctx.io.err.write(`chat ${chat.id} (continue it with: parley send ${chat.id} "...")\n`);
    control.setChat(chat.id);
    // The chat is new: its whole log is this turn.
    const stream = await openChatStream(api, chat.id, { after: 0, onReconnect: reconnectNotice(renderer) });
    return await follow(stream, renderer, control, { messageId: message.id }, false);
  } finally {
    control.uninstall();
  }
}

async function runSend(ctx: Context): Promise<number> {
  const [chatId, arg] = positionals(ctx, ['chatId', 'message']);
  const content = await messageText(ctx, arg!);
  const api = ctx.api();
  const renderer = new Renderer(ctx.io.out, { color: useColor(ctx.io) });
  const control = new InterruptControl(api, renderer);
  control.install();
  try {
    // Connected before sending, so every event of the turn reaches us: the stream starts at "now".
    const stream = await openChatStream(api, chatId!, { onReconnect: reconnectNotice(renderer) });
    let res: { queued: boolean; message?: { id: string }; queuedMessage?: { id: string } };
    try {
      res = await api.create(`/chats/${encodeURIComponent(chatId!)}/messages`, { content });
    } catch (err) {
      stream.close();
      throw err;
    }
    control.setChat(chatId!);
    if (res.queued && res.queuedMessage) {
      ctx.io.err.write('The chat is busy: your message is queued and runs after the current turn.\n');
      return await follow(stream, renderer, control, { queuedId: res.queuedMessage.id }, true);
    }
    if (!res.message) throw new Error('unexpected response: neither a message nor a queued message');
    return await follow(stream, renderer, control, { messageId: res.message.id }, false);
  } finally {
    control.uninstall();
  }
}

// ---- the other commands ----

interface ChatRow { id: string; status: string; title: string; updatedAt: string }

async function runChats(ctx: Context): Promise<number> {
  positionals(ctx, []);
  const limit = positiveInt(ctx.values.limit, '--limit') ?? 50;
  const { chats, nextCursor } = await ctx.api().request<{ chats: ChatRow[]; nextCursor: string | null }>(
    'GET', `/chats?limit=${Math.min(limit, 200)}`,
  );
  if (chats.length === 0) {
    ctx.io.out.write('No chats yet. Start one with: parley chat "hello"\n');
    return 0;
  }
  ctx.io.out.write(formatTable(['ID', 'STATUS', 'TITLE', 'UPDATED'], chats.map((c) => [
    c.id, c.status, truncate(c.title.replace(/\s+/g, ' '), 50), formatTime(c.updatedAt),
  ])));
  if (nextCursor) ctx.io.err.write(`(more chats exist: raise --limit, up to 200)\n`);
  return 0;
}

async function runInterrupt(ctx: Context): Promise<number> {
  const [chatId] = positionals(ctx, ['chatId']);
  const res = await ctx.api().request<{ interrupted: boolean }>('POST', `/chats/${encodeURIComponent(chatId!)}/interrupt`, {});
  ctx.io.out.write(res.interrupted ? 'Interrupt sent.\n' : 'Nothing to interrupt: no turn is running.\n');
  return 0;
}

/** `users create`, `providers add`, `models add`: a noun, then the one verb it supports. */
function verb(ctx: Context, expected: string): void {
  const got = ctx.positionals[0];
  if (got !== expected) throw new UsageError(got ? `unknown subcommand "${got}"` : `missing subcommand "${expected}"`);
  ctx.positionals = ctx.positionals.slice(1);
}

async function runUsers(ctx: Context): Promise<number> {
  verb(ctx, 'create');
  const [username] = positionals(ctx, ['username']);
  const role = str(ctx.values.role);
  if (role !== undefined && role !== 'admin' && role !== 'member') throw new UsageError('--role must be admin or member');
  const { user, token } = await ctx.api().request<{ user: { id: string; username: string; role: string }; token: string }>(
    'POST', '/users', { username, ...(role ? { role } : {}) },
  );
  // The token alone on stdout, so `TOKEN=$(parley users create bob)` works; the rest is for humans.
  ctx.io.err.write(`Created user ${user.username} (${user.role}, id ${user.id}). Its token is shown only once:\n`);
  ctx.io.out.write(`${token}\n`);
  return 0;
}

const PROVIDER_TYPES = ['openai', 'anthropic', 'openai-compatible'];

async function runProviders(ctx: Context): Promise<number> {
  verb(ctx, 'add');
  const [name] = positionals(ctx, ['name']);
  const type = str(ctx.values.type);
  if (!type) throw new UsageError('--type is required');
  if (!PROVIDER_TYPES.includes(type)) throw new UsageError(`--type must be one of ${PROVIDER_TYPES.join(', ')}`);
  const baseUrl = str(ctx.values['base-url']);
  let apiKey = str(ctx.values['api-key']);
  const keyEnv = str(ctx.values['api-key-env']);
  if (apiKey !== undefined && keyEnv !== undefined) throw new UsageError('pass --api-key or --api-key-env, not both');
  if (keyEnv !== undefined) {
    apiKey = ctx.io.env[keyEnv];
    if (!apiKey) throw new UsageError(`--api-key-env: the environment variable ${keyEnv} is not set or empty`);
  }
  if (type === 'openai-compatible' && !baseUrl) throw new UsageError('--base-url is required for openai-compatible providers');
  const { provider } = await ctx.api().request<{ provider: { id: string; name: string; type: string; hasApiKey: boolean } }>(
    'POST', '/providers', { name, type, ...(baseUrl ? { baseUrl } : {}), ...(apiKey ? { apiKey } : {}) },
  );
  ctx.io.out.write(`Created provider ${provider.name} (${provider.type}${provider.hasApiKey ? ', with API key' : ''}): ${provider.id}\n`);
  return 0;
}

async function resolveProvider(api: ApiClient, provider: string): Promise<string> {
  if (isUuid(provider)) return provider;
  const { providers } = await api.request<{ providers: Array<{ id: string; name: string }> }>('GET', '/providers');
  const match = providers.find((p) => p.name === provider);
  if (!match) throw new UsageError(`no provider named "${provider}"; known: ${providers.map((p) => p.name).join(', ') || 'none'}`);
  return match.id;
}

async function runModels(ctx: Context): Promise<number> {
  verb(ctx, 'add');
  const [model] = positionals(ctx, ['model']);
  const provider = str(ctx.values.provider);
  if (!provider) throw new UsageError('--provider is required');
  const contextLimit = positiveInt(ctx.values['context-limit'], '--context-limit');
  if (contextLimit === undefined) throw new UsageError('--context-limit is required');
  const maxOutputTokens = positiveInt(ctx.values['max-output-tokens'], '--max-output-tokens');
  const displayName = str(ctx.values['display-name']);
  const api = ctx.api();
  const providerId = await resolveProvider(api, provider);
  const res = await api.request<{ model: { id: string; model: string; providerName: string; isDefault: boolean } }>('POST', '/models', {
    providerId, model, contextLimit,
    ...(ctx.values.default ? { isDefault: true } : {}),
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
    ...(displayName !== undefined ? { displayName } : {}),
  });
  const m = res.model;
  ctx.io.out.write(`Created model ${m.providerName}/${m.model}${m.isDefault ? ' (default)' : ''}: ${m.id}\n`);
  return 0;
}

const COMMANDS: Record<string, CommandSpec> = {
  chat: { usage: 'chat "message" [--model M]', options: { model: { type: 'string', short: 'm' } }, run: runChat },
  send: { usage: 'send <chatId> "message"', options: {}, run: runSend },
  chats: { usage: 'chats [--limit N]', options: { limit: { type: 'string', short: 'n' } }, run: runChats },
  interrupt: { usage: 'interrupt <chatId>', options: {}, run: runInterrupt },
  users: { usage: 'users create <username> [--role admin|member]', options: { role: { type: 'string' } }, run: runUsers },
  providers: {
    usage: 'providers add <name> --type openai|anthropic|openai-compatible [--base-url U] [--api-key K | --api-key-env VAR]',
    options: { type: { type: 'string' }, 'base-url': { type: 'string' }, 'api-key': { type: 'string' }, 'api-key-env': { type: 'string' } },
    run: runProviders,
  },
  models: {
    usage: 'models add <model> --provider P --context-limit N [--default] [--max-output-tokens N] [--display-name S]',
    options: {
      provider: { type: 'string' }, 'context-limit': { type: 'string' }, default: { type: 'boolean' },
      'max-output-tokens': { type: 'string' }, 'display-name': { type: 'string' },
    },
    run: runModels,
  },
};

// ---- formatting ----

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/** Local time, minutes precision: `2025-01-31 14:05`. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}
