// Kept apart from the commands so `parley --help` loads nothing else.
import { DEFAULT_URL } from './api.ts';

export const CLIENT_USAGE = `Client commands (against a running API at PARLEY_URL, default ${DEFAULT_URL}, with the
token in PARLEY_TOKEN; --url and --token override both):
  chat "message" [--model M]       Start a chat and stream the answer (M: a model id or name;
                                   default: the default model). Ctrl-C interrupts the turn (exit
                                   130), a second Ctrl-C quits at once. "-" reads stdin.
  send <chatId> "message"          Send a message to a chat (queued while it is busy) and stream.
  chats [--limit N]                Your chats: id, status, title, last update.
  interrupt <chatId>               Interrupt the chat's running turn.
  users create <username> [--role admin|member]
                                   Create a user (admin); prints its token, shown only once.
  providers add <name> --type openai|anthropic|openai-compatible [--base-url U]
                [--api-key K | --api-key-env VAR]
                                   Add an LLM provider (admin). --api-key-env keeps the key out of
                                   shell history.
  models add <model> --provider P --context-limit N [--default] [--max-output-tokens N]
             [--display-name S]    Add a model (admin); P is a provider id or name.`;

export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(['chat', 'send', 'chats', 'interrupt', 'users', 'providers', 'models']);
