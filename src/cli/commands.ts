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
import { runModels, runProviders, runUsers } from './admin-commands.ts';
import { positionals, positiveInt, str, UsageError, type Context } from './args.ts';
import { formatTable, formatTime, truncate } from './format.ts';

export { CLIENT_COMMANDS, CLIENT_USAGE };

export interface ClientIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

const defaultIo = (): ClientIo => ({ out: process.stdout, err: process.stderr, env: process.env, stdin: process.stdin });

/** Wrong arguments or missing settings: exit code 2 with a hint. */

const EXIT_INTERRUPTED = 130;

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

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
