import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { loadChatModel, loadModel } from '../db/chat-model.ts';
import { beginCompaction, finishCompaction } from '../db/compaction.ts';
import { loadPromptMessages } from '../db/turns.ts';
import { classifyProviderError } from '../providers/index.ts';
import type { PromptMessage } from '../providers/index.ts';
import type { ErrorInfo } from '../shared/types.ts';
import { SUMMARY_MAX_ATTEMPTS } from '../workflows/contract.ts';
import { errorInfo } from './failures.ts';
import type { LlmDeps } from './llm.ts';
import type { CompactInput, CompactResult } from '../workflows/contract.ts';

const SUMMARY_MAX_TOKENS = 4096;
const TOOL_RESULT_CHARS = 2_000;

const SUMMARY_INSTRUCTIONS = `You compact the context of an AI agent's conversation with a user so the agent can continue
with a fresh context window. Write a summary the agent will read as its only memory of what came
before. Keep, concretely:
- the user's goal and requests (quote the latest request verbatim);
- decisions made and why;
- files created, read or changed (paths) and commands run, with the results that matter;
- errors met and how they were handled;
- what is done, what is in progress, and what remains to do, as a checklist.
Write plain notes, no preamble.`;

/** The transcript as text, long tool outputs cut, the middle dropped if it outgrows the budget. */
export function renderTranscript(messages: PromptMessage[], budgetChars: number): string {
  const blocks = messages.filter((m) => m.role !== 'system').map((m) => {
    const lines = m.parts.map((p) => {
      switch (p.type) {
        case 'text': return p.text;
        case 'reasoning': return '';
        case 'tool_call': return `[tool call ${p.name}(${JSON.stringify(p.args)})]`;
        case 'tool_result': {
          const r = typeof p.result === 'string' ? p.result : JSON.stringify(p.result);
          const cut = r.length > TOOL_RESULT_CHARS ? `${r.slice(0, TOOL_RESULT_CHARS)}… [${r.length - TOOL_RESULT_CHARS} chars cut]` : r;
          return `[tool result ${p.name}${p.isError ? ' (error)' : ''}: ${cut}]`;
        }
      }
    }).filter(Boolean);
    return `### ${m.role}\n${lines.join('\n')}`;
  });
  let text = blocks.join('\n\n');
  if (text.length <= budgetChars) return text;
  // Keep the start (the goal) and the end (where the work is); the middle matters least.
  const head = Math.floor(budgetChars * 0.3);
  const tail = budgetChars - head;
  text = `${text.slice(0, head)}\n\n[… ${text.length - budgetChars} characters of the middle of the conversation omitted …]\n\n${text.slice(-tail)}`;
  return text;
}

export function createCompactionActivity(deps: LlmDeps) {
  return async function compactContext(input: CompactInput): Promise<CompactResult> {
    const ctx = Context.current();
    const slot = await beginCompaction(deps.pool, deps.events, input, ctx.info.attempt);
    if (!slot) return { compacted: false }; // chat deleted
    const fail = async (error: ErrorInfo): Promise<CompactResult> => {
      await finishCompaction(deps.pool, deps.events, input, slot, { error });
      return { compacted: false };
    };

    const chatModel = await loadChatModel(deps.pool, input.chatId);
    const model = chatModel?.summaryModelId ? (await loadModel(deps.pool, chatModel.summaryModelId)) ?? chatModel : chatModel;
    if (!model) return fail({ kind: 'compaction_failed', retryable: false, message: 'Summarizing failed: the chat has no model.' });
    const { provider, name } = deps.providerFor(model.provider);
    // ~3 characters per token, leaving room for the instructions and the summary itself.
    const budgetChars = Math.max(8_000, Math.floor((model.contextLimit - SUMMARY_MAX_TOKENS) * 0.6 * 3));
    const transcript = renderTranscript(await loadPromptMessages(deps.pool, input.chatId), budgetChars);
    const interrupt = deps.interrupts.register(input.chatId, input.turn);
    const signal = AbortSignal.any([ctx.cancellationSignal, interrupt.signal, AbortSignal.timeout(deps.config.summaryTimeoutMs)]);
    // Heartbeats carry Temporal's cancellation to us; the interrupt registry is the fast path.
    const beat = setInterval(() => ctx.heartbeat(), 1_000);
    try {
      const { text } = await provider.complete({
        model: model.model,
        messages: [
          { role: 'system', parts: [{ type: 'text', text: SUMMARY_INSTRUCTIONS }] },
          { role: 'user', parts: [{ type: 'text', text: `Summarize this conversation:\n\n${transcript}` }] },
        ],
        maxOutputTokens: SUMMARY_MAX_TOKENS,
        signal,
      });
      const summary = text.trim();
      if (!summary) return fail({ kind: 'compaction_failed', retryable: false, message: 'Summarizing failed: the model returned an empty summary; the conversation was left as it was.' });
      await finishCompaction(deps.pool, deps.events, input, slot, { summary });
      return { compacted: true };
    } catch (err) {
      if (ctx.cancellationSignal.aborted || interrupt.signal.aborted) {
        if (ctx.cancellationDetails?.workerShutdown) throw err; // retried on another worker
        await fail({ kind: 'interrupted', retryable: false, message: 'Summarizing was interrupted.' });
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('interrupted');
        return { compacted: false };
      }
      const classified = classifyProviderError(err, name);
      if (classified.retryable && ctx.info.attempt < (ctx.info.retryPolicy?.maximumAttempts ?? SUMMARY_MAX_ATTEMPTS)) {
        throw ApplicationFailure.create({ message: classified.message, type: classified.kind, details: [errorInfo(classified)] });
      }
      return fail({ ...errorInfo(classified), kind: 'compaction_failed', retryable: false, message: `Summarizing failed: ${classified.message}` });
    } finally {
      clearInterval(beat);
      interrupt.release();
    }
  };
}
