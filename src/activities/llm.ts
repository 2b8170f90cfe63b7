import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Config } from '../config.ts';
import { costMicros, loadChatModel } from '../db/chat-model.ts';
import { findCompletedStep, loadPromptMessages, saveStepMessage, stepMessageId } from '../db/turns.ts';
import type { Pool } from '../db/pool.ts';
import type { ProviderAccount } from '../db/providers.ts';
import { createPartPublisher } from '../events/part-publisher.ts';
import type { EventLog, PartPublisher } from '../events/event-log.ts';
import { classifyProviderError } from '../providers/index.ts';
import type { LlmProvider, LlmStreamEvent } from '../providers/index.ts';
import type { MessagePart, ToolCallPart, Usage } from '../shared/types.ts';
import { emptyUsage } from '../shared/types.ts';
import { isLocalTool, toolSpecs } from '../tools/index.ts';
import type { InterruptRegistry } from '../worker/interrupts.ts';
import type { LlmStepResult, StepRef, StepToolCall } from '../workflows/contract.ts';
import { DatabaseFailure, inDatabase } from '../db/errors.ts';
import { announceRetry, toApplicationFailure, workerShutdownFailure } from './failures.ts';
import { buildPrompt, SUBAGENT_SYSTEM_PROMPT, SYSTEM_PROMPT } from './prompt.ts';
import { agentPlace } from '../db/agents.ts';
import { agentToolSpecs } from '../tools/agents.ts';
import { actionKindOf } from '../tools/actions.ts';
import type { ToolPolicy } from '../shared/resources.ts';

export interface LlmDeps {
  config: Config;
  pool: Pool;
  events: EventLog;
  interrupts: InterruptRegistry;
  /** The adapter for a provider account (read with the model): no I/O, the key is decrypted here. */
  providerFor(account: ProviderAccount): { provider: LlmProvider; name: string };
}

/** Accumulates normalised stream events into message parts, publishing each delta as it comes. */
class StepAccumulator {
  readonly parts: MessagePart[] = [];
  usage: Usage = emptyUsage();
  finishReason: string | null = null;
  private open: MessagePart | null = null;
  private readonly calls = new Map<string, { part: ToolCallPart; raw: string }>();
  private readonly publisher: PartPublisher;

  constructor(publisher: PartPublisher) {
    this.publisher = publisher;
  }

  add(ev: LlmStreamEvent): void {
    switch (ev.type) {
      case 'text_delta':
      case 'reasoning_delta': {
        const type = ev.type === 'text_delta' ? 'text' : 'reasoning';
        if (this.open?.type !== type) this.parts.push((this.open = { type, text: '' }));
        (this.open as { text: string }).text += ev.text;
        this.publisher.part({ type, text: ev.text });
        break;
      }
      case 'reasoning_end': {
        let part = this.open?.type === 'reasoning' ? this.open : null;
        if (!part) this.parts.push((part = { type: 'reasoning', text: '' }));
        if (ev.signature) part.signature = ev.signature;
        if (ev.redacted) part.redacted = ev.redacted;
        this.open = null;
        break;
      }
      case 'tool_call_start': {
        const part: ToolCallPart = { type: 'tool_call', toolCallId: ev.toolCallId, name: ev.name, args: {} };
        this.parts.push(part);
        this.calls.set(ev.toolCallId, { part, raw: '' });
        this.open = null;
        this.publisher.part({ type: 'tool_call', toolCallId: ev.toolCallId, name: ev.name, argsDelta: '' });
        break;
      }
      case 'tool_call_delta': {
        const call = this.calls.get(ev.toolCallId);
        if (!call) break;
        call.raw += ev.argsDelta;
        this.publisher.part({ type: 'tool_call', toolCallId: ev.toolCallId, name: call.part.name, argsDelta: ev.argsDelta });
        break;
      }
      case 'tool_call_end': {
        const call = this.calls.get(ev.toolCallId);
        if (!call) break;
        call.part.args = ev.args;
        this.publisher.part({ type: 'tool_call', toolCallId: ev.toolCallId, name: call.part.name, args: ev.args });
        break;
      }
      case 'finish':
        this.usage = boundedUsage(ev.usage);
        this.finishReason = ev.reason;
        break;
    }
  }

  /** For a kept partial: tool calls whose arguments never completed get what arrived, if it parses. */
  closePartialCalls(): void {
    for (const { part, raw } of this.calls.values()) {
      if (part.args && Object.keys(part.args as object).length) continue;
      try { part.args = raw ? JSON.parse(raw) : {}; } catch { part.args = {}; }
    }
  }

  toolCalls(): ToolCallPart[] {
    return this.parts.filter((p): p is ToolCallPart => p.type === 'tool_call');
  }
}

const HEARTBEAT_MS = 2_000;

/** Far above any real count: what a provider reports beyond it (or not as a count at all) is not stored. */
const MAX_TOKENS = 1e12;
/** Token counts as a provider reported them, made safe to store and to sum. */
function boundedUsage(u: Usage): Usage {
  const bound = (n: unknown): number => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.min(Math.round(n), MAX_TOKENS) : 0);
  const out = { ...u };
  for (const k of Object.keys(out) as Array<keyof Usage>) (out[k] as unknown) = bound(out[k]);
  return out;
}

export function contextTokensOf(u: Usage): number {
  return u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
}

/** A call as the workflow sees it: whether it runs locally, and whether it waits for a person first. */
function stepToolCall(c: ToolCallPart, policy: ToolPolicy | null): StepToolCall {
  const ask = actionKindOf(c, policy);
  return { toolCallId: c.toolCallId, name: c.name, local: isLocalTool(c.name), ...(ask ? { ask } : {}) };
}

/**
 * An activity failure for `err`: database failures say so (a provider is not blamed for them) and
 * are retried only when that can help; the rest is classified as the provider's. Retries are
 * announced to the chat's clients.
 */
async function asFailure(err: unknown, deps: LlmDeps, chatId: string, providerName: string): Promise<unknown> {
  if (err instanceof CancelledFailure) return err;
  const failure = err instanceof ApplicationFailure ? err
    : err instanceof DatabaseFailure ? toApplicationFailure(err.info)
      : toApplicationFailure(classifyProviderError(err, providerName));
  if (!failure.nonRetryable) await announceRetry(deps.events, chatId, failure);
  return failure;
}

export function createLlmActivity(deps: LlmDeps) {
  /**
   * Replies received but not stored, by step, for the next attempt on this worker. Bounded: a step's
   * attempts end within llmStepTimeoutMs, and a retry on another worker calls the provider again.
   */
  const received = new ExpiringMap<string, { save: Parameters<typeof saveStepMessage>[2]; result: LlmStepResult }>(deps.config.llmStepTimeoutMs, 1_000);
  return async function llmStep(ref: StepRef): Promise<LlmStepResult> {
    const ctx = Context.current();
    const { attempt } = ctx.info;
    const messageId = stepMessageId(ref.chatId, ref.turn, ref.step, 0);

    // Loaded together: one round trip of latency before the provider call instead of two. The model and
    // transcript are wasted only in the rare case below.
    let done, model, transcript, place;
    try {
      [done, model, transcript, place] = await inDatabase('load this chat', () => Promise.all([
        findCompletedStep(deps.pool, ref.chatId, ref.turn, ref.step),
        loadChatModel(deps.pool, ref.chatId),
        loadPromptMessages(deps.pool, ref.chatId),
        agentPlace(deps.pool, ref.chatId),
      ]));
    } catch (err) {
      throw await asFailure(err, deps, ref.chatId, 'the database');
    }
    // An earlier attempt finished this step (its result was lost): answer from PostgreSQL, don't pay twice.
    if (done) {
      const calls = done.message.parts.filter((p): p is ToolCallPart => p.type === 'tool_call');
      return {
        messageId, finishReason: done.finishReason, interrupted: done.finishReason === 'interrupted',
        toolCalls: done.finishReason === 'interrupted' ? [] : calls.map((c) => stepToolCall(c, model?.toolPolicy ?? null)),
        contextTokens: done.message.usage ? contextTokensOf(done.message.usage) : 0,
      };
    }

    if (!model) {
      throw toApplicationFailure({ kind: 'model_not_found', retryable: false, message: 'The chat has no model and no default model is configured.' });
    }
    // An earlier attempt on this worker received the provider's whole reply but could not store it
    // (the database was briefly unreachable): store that reply, never pay for the step again.
    const key = `${ref.chatId}:${ref.turn}:${ref.step}`;
    const kept = received.get(key);
    if (kept) {
      try {
        await inDatabase('store the model\'s reply', () => saveStepMessage(deps.pool, deps.events, kept.save));
      } catch (err) {
        throw await asFailure(err, deps, ref.chatId, 'the database');
      }
      received.delete(key);
      return kept.result;
    }
    const { provider, name: providerName } = deps.providerFor(model.provider);
    // A sub-agent gets its own system prompt; the sub-agent tools are offered above the deepest level only.
    const depth = place?.depth ?? 0;
    const messages = buildPrompt(transcript, depth > 0 ? SUBAGENT_SYSTEM_PROMPT : SYSTEM_PROMPT);
    const tools = depth < deps.config.subagents.maxDepth ? [...toolSpecs, ...agentToolSpecs] : toolSpecs;

    const interrupt = deps.interrupts.register(ref.chatId, ref.turn);
    const signal = AbortSignal.any([ctx.cancellationSignal, interrupt.signal]);
    const publisher = createPartPublisher(deps.events, { chatId: ref.chatId, messageId, attempt, coalesceMs: deps.config.eventCoalesceMs });
    const acc = new StepAccumulator(publisher);
    // Heartbeats say "this worker is alive", not "tokens are flowing": a reasoning model may think
    // silently for minutes, which must not look like a dead worker.
    const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
    try {
      try {
        for await (const ev of provider.stream({
          model: model.model, messages, tools, signal, options: model.options,
          ...(model.maxOutputTokens ? { maxOutputTokens: model.maxOutputTokens } : {}),
        })) {
          acc.add(ev);
        }
        if (signal.aborted) throw signal.reason;
      } catch (err) {
        if (!signal.aborted) throw err;
        // Worker shutdown is not an interrupt: the step is retried elsewhere, nothing is settled.
        if (ctx.cancellationDetails?.workerShutdown) throw workerShutdownFailure();
        await publisher.flush().catch(() => {});
        acc.closePartialCalls();
        await inDatabase('store the partial reply', () => saveStepMessage(deps.pool, deps.events, {
          chatId: ref.chatId, turn: ref.turn, step: ref.step, parts: acc.parts, modelId: model.modelId, model: model.model,
          usage: acc.usage, costMicros: costMicros(acc.usage, model.pricing), finishReason: 'interrupted', contextTokens: contextTokensOf(acc.usage),
        }));
        // Cancelled through Temporal: acknowledge it; interrupted through the fast path: report it.
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('interrupted');
        return { messageId, toolCalls: [], finishReason: 'interrupted', contextTokens: contextTokensOf(acc.usage), interrupted: true };
      }
      await publisher.flush();
      const usage = acc.usage;
      const save = {
        chatId: ref.chatId, turn: ref.turn, step: ref.step, parts: acc.parts, modelId: model.modelId, model: model.model,
        usage, costMicros: costMicros(usage, model.pricing), finishReason: acc.finishReason ?? 'stop', contextTokens: contextTokensOf(usage),
      };
      const result: LlmStepResult = {
        messageId,
        toolCalls: acc.toolCalls().map((c) => stepToolCall(c, model.toolPolicy)),
        finishReason: acc.finishReason ?? 'stop',
        contextTokens: contextTokensOf(usage),
        interrupted: false,
      };
      try {
        await inDatabase('store the model\'s reply', () => saveStepMessage(deps.pool, deps.events, save));
      } catch (err) {
        // Kept for the retry (see above) when one can help; a refused reply is refused again.
        if (err instanceof DatabaseFailure && err.info.retryable) received.set(key, { save, result });
        throw err;
      }
      return result;
    } catch (err) {
      throw await asFailure(err, deps, ref.chatId, providerName);
    } finally {
      clearInterval(beat);
      interrupt.release();
    }
  };
}

/** A Map whose entries expire after `ttlMs`, holding at most `max` (the oldest go first). */
class ExpiringMap<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();
  private readonly ttlMs: number;
  private readonly max: number;
  constructor(ttlMs: number, max: number) {
    this.ttlMs = ttlMs;
    this.max = max;
  }
  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key: K, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
  }
  delete(key: K): void {
    this.entries.delete(key);
  }
}
