import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowStreamClient } from '@temporalio/workflow-streams/client';
import { createProvider } from '../../src/providers/index.ts';
import { TOKENS_TOPIC } from './protocol.ts';

export interface PeerActivities {
  streamTokens(input: { directive: string }): Promise<void>;
}

/**
 * Streams one reply from the fake provider through Parley's own OpenAI adapter and publishes every
 * text delta to the workflow's stream, batched every `batchMs` (Parley coalesces over the same window).
 */
export function createPeerActivities(client: Client, fakeBaseUrl: string, batchMs: number): PeerActivities {
  const provider = createProvider({ type: 'openai', name: 'bench-fake', baseUrl: fakeBaseUrl, apiKey: 'sk-bench' });
  return {
    async streamTokens({ directive }) {
      const ctx = Context.current();
      // Typed against the nested 1.23 client (see dedupe.ts); at runtime it is our 1.24 package.
      const streams = WorkflowStreamClient.create(client as never, ctx.info.workflowExecution!.workflowId, { batchInterval: batchMs });
      const tokens = streams.topic<string>(TOKENS_TOPIC);
      try {
        for await (const ev of provider.stream({
          model: 'bench-model', messages: [{ role: 'user', parts: [{ type: 'text', text: directive }] }], tools: [], signal: ctx.cancellationSignal,
        })) {
          if (ev.type === 'text_delta') tokens.publish(ev.text);
          ctx.heartbeat();
        }
      } finally {
        await streams[Symbol.asyncDispose]();
      }
    },
  };
}
