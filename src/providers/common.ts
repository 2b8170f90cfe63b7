// Small helpers shared by the OpenAI and Anthropic adapters.
import type { MessagePart } from '../shared/types.ts';

/**
 * Tool-call arguments as the model wrote them. Invalid JSON is kept as `{ _raw }` rather than
 * dropped, so the tool can report exactly what was wrong and the model can correct itself.
 */
export function parseToolArgs(raw: string): unknown {
  if (raw.trim() === '') return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return { _raw: raw };
  }
}

/** Arguments back to the JSON string a model produced (the `_raw` form round-trips verbatim). */
export function stringifyToolArgs(args: unknown): string {
  if (isRawArgs(args)) return args._raw;
  return JSON.stringify(args ?? {});
}

export function isRawArgs(args: unknown): args is { _raw: string } {
  return typeof args === 'object' && args !== null && Object.keys(args).length === 1
    && typeof (args as { _raw?: unknown })._raw === 'string';
}

export function stringifyToolResult(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result === undefined) return '';
  try {
    return JSON.stringify(result);
  } catch {
    return String(result);
  }
}

export function textOf(parts: MessagePart[]): string {
  return parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n');
}

/**
 * Model options come from user-edited config where camelCase is natural (`reasoningEffort`);
 * both wire formats are snake_case. Only top-level keys are converted: nested objects (e.g.
 * Anthropic `thinking: { budget_tokens }`) are passed through as written.
 */
export function wireOptions(options: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value;
  }
  return out;
}
