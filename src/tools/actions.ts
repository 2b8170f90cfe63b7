// Tool calls that wait for a person: the tool policy that decides which calls need an approval, and
// ask_user_question, whose result is a person's answer. The waiting is the workflow's
// (src/workflows/chat.ts awaitActions); the pending actions live in PostgreSQL (src/db/actions.ts).
import type { ToolPolicy } from '../shared/resources.ts';
import { badRequest } from '../shared/errors.ts';
import { parseArgs } from './args.ts';
import { ToolError } from './errors.ts';
import { defineTool } from './tool.ts';

export const ASK_USER_QUESTION_TOOL = 'ask_user_question';

const questionFields = {
  question: { type: 'string', description: 'The question, as the user will read it.', required: true },
  options: { type: 'strings', description: 'Suggested answers to choose from; the user may still answer in their own words.' },
} as const;

/**
 * Offered to the model like any tool, but a well-formed call never runs: the turn pauses until the
 * user answers, and the answer is the result. Only a malformed call reaches run(), which says why.
 */
export const askUserQuestionTool = defineTool({
  name: ASK_USER_QUESTION_TOOL,
  description:
    'Ask the user a question and wait for the answer (it may take a while): use it when you cannot go on ' +
    'without a decision or a fact only the user has. Returns {answer}.',
  fields: questionFields,
  local: true,
  run: async () => {
    throw new ToolError(`${ASK_USER_QUESTION_TOOL} is answered by the user; this call could not be asked.`);
  },
});

/** Whether a call is a question the user can be asked (its arguments are valid). */
export function isAskableQuestion(name: string, args: unknown): boolean {
  if (name !== ASK_USER_QUESTION_TOOL) return false;
  try {
    return parseArgs(ASK_USER_QUESTION_TOOL, questionFields, args).question.trim() !== '';
  } catch {
    return false;
  }
}

/** What a call waits for before it runs, if anything. */
export function actionKindOf(call: { name: string; args: unknown }, policy: ToolPolicy | null): 'approval' | 'question' | undefined {
  if (isAskableQuestion(call.name, call.args)) return 'question';
  if (call.name === ASK_USER_QUESTION_TOOL) return undefined;
  const rule = policy?.tools?.[call.name] ?? policy?.default ?? 'auto';
  return rule === 'ask' ? 'approval' : undefined;
}

/**
 * Refuses a policy that names a tool Parley does not have: a typo ("exceute": "ask") would otherwise
 * let every call of the real tool run unasked.
 */
export function checkToolPolicy(policy: ToolPolicy | null | undefined, toolNames: readonly string[]): void {
  for (const name of Object.keys(policy?.tools ?? {})) {
    if (!toolNames.includes(name)) {
      throw badRequest(`toolPolicy names an unknown tool ${JSON.stringify(name)}; the tools are ${toolNames.join(', ')}`);
    }
  }
}
