import { ApplicationFailure, Context } from '@temporalio/activity';
import { loadChatModel, loadModel } from '../db/chat-model.ts';
import { replaceGeneratedTitle, titleAndFirstMessage } from '../db/chats.ts';
import { classifyProviderError } from '../providers/index.ts';
import type { LlmDeps } from './llm.ts';

const TITLE_MAX_TOKENS = 256;
const TITLE_MAX_CHARS = 60;
const TITLE_TIMEOUT_MS = 30_000;

const INSTRUCTIONS = `Write a title for the conversation that starts with the user's message below: at most six words,
in the user's language, no quotes, no trailing punctuation. Answer with the title only.`;

/** First line, without quotes/markdown, at most TITLE_MAX_CHARS at a word boundary. */
export function cleanTitle(raw: string): string {
  let t = (raw.trim().split('\n')[0] ?? '').replace(/^(title:\s*)/i, '').replace(/^[#*\s"'“”‘’`]+|[*\s"'“”‘’`.]+$/g, '').trim();
  if (t.length > TITLE_MAX_CHARS) {
    const cut = t.slice(0, TITLE_MAX_CHARS + 1);
    t = cut.slice(0, cut.lastIndexOf(' ') > 0 ? cut.lastIndexOf(' ') : TITLE_MAX_CHARS).trimEnd();
  }
  return t;
}

/**
 * Best effort: a failure leaves the first-words title in place and never touches the turn. A title
 * the user set meanwhile is not overwritten (the update only applies to the title it started from).
 */
export function createTitleActivity(deps: LlmDeps) {
  return async function generateTitle({ chatId }: { chatId: string }): Promise<void> {
    const ctx = Context.current();
    const row = await titleAndFirstMessage(deps.pool, chatId);
    const first = row?.firstParts?.find((p) => p.type === 'text')?.text;
    if (!row || !first) return;
    const chatModel = await loadChatModel(deps.pool, chatId);
    const model = chatModel?.titleModelId ? (await loadModel(deps.pool, chatModel.titleModelId)) ?? chatModel : chatModel;
    if (!model) return;
    const { provider, name } = deps.providerFor(model.provider);
    let text: string;
    try {
      ({ text } = await provider.complete({
        model: model.model,
        messages: [
          { role: 'system', parts: [{ type: 'text', text: INSTRUCTIONS }] },
          { role: 'user', parts: [{ type: 'text', text: first.slice(0, 4_000) }] },
        ],
        maxOutputTokens: TITLE_MAX_TOKENS,
        signal: AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(TITLE_TIMEOUT_MS)]),
      }));
    } catch (err) {
      const c = classifyProviderError(err, name);
      throw ApplicationFailure.create({ message: `title generation failed: ${c.message}`, type: c.kind, nonRetryable: !c.retryable });
    }
    const title = cleanTitle(text);
    if (!title) return;
    await replaceGeneratedTitle(deps.pool, deps.events, chatId, row.title, title);
  };
}
