// PromptMessage[] → Chat Completions messages/tools. Shared by `openai` and `openai-compatible`.
import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { ToolResultPart, Usage } from '../shared/types.ts';
import type { PromptMessage, ToolSpec } from './provider.ts';
import { stringifyToolArgs, stringifyToolResult, textOf } from './common.ts';

export function toOpenAiMessages(messages: PromptMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  for (const m of messages) {
    // Tool results become `role: "tool"` messages wherever they were stored, and must directly
    // follow the assistant message that made the calls, so they go before any text of `m`.
    for (const part of m.parts) {
      if (part.type === 'tool_result') out.push(toolMessage(part));
    }
    const text = textOf(m.parts);
    switch (m.role) {
      case 'system':
        if (text) out.push({ role: 'system', content: text });
        break;
      case 'user':
      case 'tool':
        if (text) out.push({ role: 'user', content: text });
        break;
      case 'assistant': {
        // Reasoning parts are not replayed: Chat Completions has no input field for them.
        const calls: ChatCompletionMessageToolCall[] = [];
        for (const part of m.parts) {
          if (part.type !== 'tool_call') continue;
          calls.push({ id: part.toolCallId, type: 'function', function: { name: part.name, arguments: stringifyToolArgs(part.args) } });
        }
        if (!text && calls.length === 0) break;
        out.push(calls.length > 0
          ? { role: 'assistant', content: text || null, tool_calls: calls }
          : { role: 'assistant', content: text });
        break;
      }
    }
  }
  return out;
}

function toolMessage(part: ToolResultPart): ChatCompletionMessageParam {
  const content = stringifyToolResult(part.result);
  // Chat Completions has no error flag on tool messages: say it in the content.
  return { role: 'tool', tool_call_id: part.toolCallId, content: part.isError ? `Error: ${content}` : content };
}

export function toOpenAiTools(tools: ToolSpec[]): ChatCompletionTool[] {
  return tools.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
}

/** OpenAI counts cached prompt tokens inside prompt_tokens; Parley reports them separately. */
export function fromOpenAiUsage(u: CompletionUsage | null | undefined): Usage {
  const cached = u?.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    inputTokens: Math.max(0, (u?.prompt_tokens ?? 0) - cached),
    outputTokens: u?.completion_tokens ?? 0,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: u?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}
