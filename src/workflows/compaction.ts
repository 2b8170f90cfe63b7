/** What the workflow knows after each LLM step (and its tools) finished. */
export interface StepContext {
  chatId: string;
  turn: number;
  step: number;
  /** Input + cache read + cache write tokens of the step: the context window in use. */
  contextTokens: number;
  /** True when the model gave its final answer; compaction may set it false to re-enter the loop. */
  final: boolean;
}

/**
 * The compaction loop's seam: runs after every step. Context compaction (summarise when
 * contextTokens crosses the model's threshold) plugs in here.
 */
export async function afterStep(_ctx: StepContext): Promise<void> {}
