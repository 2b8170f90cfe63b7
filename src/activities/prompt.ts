import type { PromptMessage } from '../providers/index.ts';

const SYSTEM_PROMPT = `You are Parley, a capable assistant and coding agent.
You work in a private workspace directory for this chat. Use the tools to read, write, edit and list
files and to run shell commands there; paths are relative to the workspace. Think before acting,
prefer small verifiable steps, and report what you did and what remains. When the task is done or
you need the user's input, answer without calling tools.`;

/** The prompt of one step: the system prompt, then the stored transcript as the model sees it. */
export function buildPrompt(transcript: PromptMessage[], systemPrompt = SYSTEM_PROMPT): PromptMessage[] {
  return [{ role: 'system', parts: [{ type: 'text', text: systemPrompt }] }, ...transcript];
}
