// PromptMessage[] → Anthropic Messages `system`, `messages` and `tools`.
import type {
  ContentBlockParam, MessageParam, TextBlockParam, Tool, ToolResultBlockParam, ToolUseBlockParam,
  Usage as AnthropicUsage, MessageDeltaUsage,
} from '@anthropic-ai/sdk/resources/messages';
import type { Usage } from '../shared/types.ts';
import type { PromptMessage, ToolSpec } from './provider.ts';
import { stringifyToolResult } from './common.ts';

type Role = 'user' | 'assistant';

export interface AnthropicPrompt {
  system?: TextBlockParam[];
  messages: MessageParam[];
}

export function toAnthropicPrompt(messages: PromptMessage[]): AnthropicPrompt {
  // Anthropic has one system prompt: every system message goes there, in order.
  const system: TextBlockParam[] = [];
  const turns: { role: Role; content: ContentBlockParam[] }[] = [];

  for (const m of messages) {
    if (m.role === 'system') {
      for (const part of m.parts) {
        if (part.type === 'text' && part.text) system.push({ type: 'text', text: part.text });
      }
      continue;
    }
    const role: Role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks = role === 'assistant' ? assistantBlocks(m) : userBlocks(m);
    if (blocks.length === 0) continue; // the API rejects empty content
    const last = turns.at(-1);
    // Roles must alternate: merge e.g. a tool-result message and a following user message.
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  }

  for (const turn of turns) {
    // tool_result blocks must come first in their user message.
    if (turn.role === 'user') turn.content.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
  }

  // Prompt caching: everything up to the marked block is cached (tools, then system, then
  // messages), so marking the end of the system prompt and of the conversation caches both the
  // stable prefix and the growing history for the next turn.
  const lastSystem = system.at(-1);
  if (lastSystem) lastSystem.cache_control = { type: 'ephemeral' };
  const lastTurn = turns.at(-1);
  if (lastTurn) {
    // Thinking blocks cannot carry cache_control: mark the last block that can.
    const cacheable = lastTurn.content.findLast(isCacheable);
    if (cacheable) cacheable.cache_control = { type: 'ephemeral' };
  }

  const prompt: AnthropicPrompt = { messages: turns };
  if (system.length > 0) prompt.system = system;
  return prompt;
}

function isCacheable(b: ContentBlockParam): b is TextBlockParam | ToolUseBlockParam | ToolResultBlockParam {
  return b.type === 'text' || b.type === 'tool_use' || b.type === 'tool_result';
}

function userBlocks(m: PromptMessage): ContentBlockParam[] {
  const blocks: ContentBlockParam[] = [];
  for (const part of m.parts) {
    if (part.type === 'text' && part.text) blocks.push({ type: 'text', text: part.text });
    if (part.type === 'tool_result') {
      const content = stringifyToolResult(part.result);
      blocks.push({
        type: 'tool_result',
        tool_use_id: part.toolCallId,
        ...(content ? { content } : {}),
        ...(part.isError ? { is_error: true } : {}),
      });
    }
  }
  return blocks;
}

function assistantBlocks(m: PromptMessage): ContentBlockParam[] {
  const blocks: ContentBlockParam[] = [];
  for (const part of m.parts) {
    switch (part.type) {
      case 'reasoning':
        // Only signed (or redacted) thinking can be replayed; reasoning from another provider
        // has no signature and would be rejected, so it is left out.
        if (part.redacted) blocks.push({ type: 'redacted_thinking', data: part.redacted });
        else if (part.signature) blocks.push({ type: 'thinking', thinking: part.text, signature: part.signature });
        break;
      case 'text':
        if (part.text) blocks.push({ type: 'text', text: part.text });
        break;
      case 'tool_call':
        blocks.push({ type: 'tool_use', id: part.toolCallId, name: part.name, input: toolInput(part.args) });
        break;
      case 'tool_result':
        break; // results belong to the user side; stored on an assistant message is a caller bug
    }
  }
  return blocks;
}

/** tool_use.input must be an object. */
function toolInput(args: unknown): Record<string, unknown> {
  if (typeof args === 'object' && args !== null && !Array.isArray(args)) return args as Record<string, unknown>;
  return args === undefined || args === null ? {} : { value: args };
}

export function toAnthropicTools(tools: ToolSpec[]): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: { type: 'object', ...t.parameters } as Tool.InputSchema,
  }));
}

type AnyAnthropicUsage = Partial<Pick<AnthropicUsage | MessageDeltaUsage,
  'input_tokens' | 'output_tokens' | 'cache_read_input_tokens' | 'cache_creation_input_tokens' | 'output_tokens_details'>>;

/** Applies the non-null fields of `u` (message_delta usage is cumulative but may omit fields). */
export function mergeAnthropicUsage(into: Usage, u: AnyAnthropicUsage | null | undefined): Usage {
  if (!u) return into;
  if (u.input_tokens != null) into.inputTokens = u.input_tokens;
  if (u.output_tokens != null) into.outputTokens = u.output_tokens;
  if (u.cache_read_input_tokens != null) into.cacheReadTokens = u.cache_read_input_tokens;
  if (u.cache_creation_input_tokens != null) into.cacheWriteTokens = u.cache_creation_input_tokens;
  if (u.output_tokens_details?.thinking_tokens != null) into.reasoningTokens = u.output_tokens_details.thinking_tokens;
  return into;
}
