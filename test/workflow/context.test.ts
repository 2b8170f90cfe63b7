import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpError, reply, text, toolCall, waitFor } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.close(); });

const usage = (inputTokens: number, outputTokens = 10) => ({ usage: { inputTokens, outputTokens } });
const textOf = (body: unknown) => JSON.stringify(body);
const contextTooLong = (kind: 'openai' | 'anthropic') => kind === 'openai'
  ? httpError(400, { code: 'context_length_exceeded', message: "This model's maximum context length is 1000 tokens" })
  : httpError(400, { message: 'prompt is too long: 1200 tokens > 1000 maximum' });

async function messages(chatId: string) {
  return (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages as any[];
}
async function stored(chatId: string) {
  const { rows } = await stack.services.pool.query(
    'SELECT role, visibility, compressed, parts FROM messages WHERE chat_id = $1 ORDER BY turn, step, idx', [chatId]);
  return rows;
}

describe.each(['openai', 'anthropic'] as const)('context compaction on %s', (kind) => {
  let modelId: string;
  beforeAll(async () => {
    stack.fake.reset();
    ({ modelId } = await stack.setupModel(kind, { contextLimit: 1000, compactionThresholdPercent: 70 }));
  });

  test('mid-turn: later prompts hold the summary as a user message and none of the compressed messages', async () => {
    stack.fake.enqueue(kind,
      reply([text('Let me look.'), toolCall('execute', { command: 'echo TOOL-OUTPUT-ALPHA' })], usage(800)),
      reply(text('Done from the summary.'), usage(120)));
    stack.fake.enqueueCompletion(kind, text('SUMMARY-OF-ALPHA: the user wants the alpha task; ran echo.'));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'ORIGINAL-REQUEST alpha', modelId, title: 'alpha' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');

    const steps = stack.fake.requests(kind).filter((b) => textOf(b).includes('SUMMARY-OF-ALPHA') || textOf(b).includes('ORIGINAL-REQUEST alpha'));
    expect(steps).toHaveLength(2);
    const second = textOf(steps[1]);
    expect(second).toContain('SUMMARY-OF-ALPHA');
    expect(second).not.toContain('ORIGINAL-REQUEST');
    expect(second).not.toContain('TOOL-OUTPUT-ALPHA');
    // The summary is a user-role message, so every provider accepts the prompt.
    const msgs = steps[1].messages as Array<{ role: string; content: unknown }>;
    const summaryMsg = msgs.find((m) => textOf(m.content).includes('SUMMARY-OF-ALPHA'));
    expect(summaryMsg?.role).toBe('user');
    // The summary request itself saw the transcript.
    expect(textOf(stack.fake.completions(kind).at(-1))).toContain('TOOL-OUTPUT-ALPHA');

    const rows = await stored(chat.id);
    const summary = rows.find((r) => r.role === 'user' && r.visibility === 'model');
    expect(summary.compressed).toBe(false);
    expect(rows.filter((r) => r.compressed).length).toBeGreaterThanOrEqual(3); // user, assistant, tool: kept, not deleted
    // Users see the marker: a chat_summarized call with the figures, its result the summary.
    const visible = await messages(chat.id);
    const marker = visible.find((m) => m.parts[0]?.type === 'tool_call' && m.parts[0].name === 'chat_summarized');
    expect(marker.parts[0].args).toMatchObject({ reason: 'threshold', thresholdPercent: 70, contextTokens: 800, contextLimit: 1000 });
    const result = visible.find((m) => m.parts[0]?.type === 'tool_result' && m.parts[0].name === 'chat_summarized');
    expect(result.parts[0].result.summary).toContain('SUMMARY-OF-ALPHA');
    expect(visible.some((m) => m.role === 'user' && JSON.stringify(m.parts).includes('Summary of the conversation'))).toBe(false);
    expect(visible[0].parts[0].text).toBe('ORIGINAL-REQUEST alpha'); // history stays readable
    if (kind === 'openai') await recordHistory(stack, chat.id, 'compaction-mid-turn');
  });

  test('on the final step: the loop re-enters and the agent continues from its summary', async () => {
    stack.fake.enqueue(kind, reply(text('First answer BETA.'), usage(750)), reply(text('Continued after summary.'), usage(100)));
    stack.fake.enqueueCompletion(kind, text('SUMMARY-OF-BETA'));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'beta please', modelId, title: 'beta' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    const assistants = (await messages(chat.id)).filter((m) => m.role === 'assistant' && m.parts[0]?.type === 'text');
    expect(assistants.map((m) => m.parts[0].text)).toEqual(['First answer BETA.', 'Continued after summary.']);
    const last = stack.fake.requests(kind).at(-1);
    expect(textOf(last)).toContain('SUMMARY-OF-BETA');
    expect(textOf(last)).not.toContain('beta please');
  });

  test('at most 3 compactions per turn', async () => {
    const before = stack.fake.completions(kind).length;
    stack.fake.enqueue(kind, ...[1, 2, 3, 4, 5].map((i) => reply(text(`answer ${i}`), usage(900))));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'gamma', modelId, title: 'gamma' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    expect(stack.fake.completions(kind).length - before).toBe(3);
    const answers = (await messages(chat.id)).filter((m) => m.role === 'assistant' && m.parts[0]?.type === 'text');
    expect(answers.map((m) => m.parts[0].text)).toEqual(['answer 1', 'answer 2', 'answer 3', 'answer 4']);
    stack.fake.reset();
  });
});

describe.each(['openai', 'anthropic'] as const)('compaction failures and triggers on %s', (kind) => {
  let modelId: string;
  beforeAll(async () => {
    stack.fake.reset();
    ({ modelId } = await stack.setupModel(kind, { contextLimit: 1000, compactionThresholdPercent: 70 }));
  });

  test('a failing summary is reported and leaves the chat usable, nothing compressed', async () => {
    stack.fake.enqueue(kind, reply(text('big answer'), usage(800)));
    stack.fake.enqueueCompletion(kind, httpError(400, { message: 'summary refused' }));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'delta', modelId, title: 'delta' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    const events = await stack.events(chat.id);
    const err = events.find((e) => e.type === 'error');
    expect(err?.data).toMatchObject({ kind: 'compaction_failed' });
    expect((err?.data as any).message).toMatch(/Summarizing failed/);
    expect((await stored(chat.id)).some((r) => r.compressed)).toBe(false);
    const marker = (await messages(chat.id)).find((m) => m.parts[0]?.type === 'tool_result' && m.parts[0].name === 'chat_summarized');
    expect(marker.parts[0].isError).toBe(true);
    // Still usable: the next message runs a normal turn on the full history.
    stack.fake.enqueue(kind, reply(text('next'), usage(100)));
    await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'delta again' });
    await waitFor(() => stack.fake.requests(kind).some((b) => textOf(b).includes('delta again')), 10_000);
    expect(textOf(stack.fake.requests(kind).at(-1))).toContain('big answer');
    await stack.waitForStatus(chat.id, 'waiting');
  });

  test('an empty summary is a failure too', async () => {
    stack.fake.enqueue(kind, reply(text('another big answer'), usage(800)));
    stack.fake.enqueueCompletion(kind, text('   '));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'epsilon', modelId, title: 'e' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    const err = (await stack.events(chat.id)).find((e) => e.type === 'error');
    expect((err?.data as any).message).toMatch(/empty summary/);
  });

  test('a context-length rejection compacts once and retries the step', async () => {
    const tooLong = contextTooLong(kind);
    stack.fake.enqueue(kind, tooLong, reply(text('fits now'), usage(100)));
    stack.fake.enqueueCompletion(kind, text('SUMMARY-ZETA'));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'zeta', modelId, title: 'z' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    expect(textOf(stack.fake.requests(kind).at(-1))).toContain('SUMMARY-ZETA');
    expect((await messages(chat.id)).at(-1).parts).toEqual([{ type: 'text', text: 'fits now' }]);
  });

  test('a context-length rejection that persists after compaction ends the turn with a clear error', async () => {
    const tooLong = contextTooLong(kind);
    stack.fake.enqueue(kind, tooLong, tooLong);
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'eta', modelId, title: 'eta' })).body.chat;
    const row = await stack.waitForStatus(chat.id, 'error');
    expect(row.last_error.kind).toBe('context_length');
    expect(row.last_error.message).toMatch(/context|too long/i);
  });

  test('threshold 100 disables compaction', async () => {
    const { modelId: off } = await stack.setupModel(kind, { contextLimit: 1000, compactionThresholdPercent: 100 });
    const before = stack.fake.completions(kind).length;
    stack.fake.enqueue(kind, reply(text('no compaction'), usage(990)));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'theta', modelId: off, title: 't' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    await stack.waitForWorkflowClosed(chat.id);
    expect(stack.fake.completions(kind).length).toBe(before);
    expect((await stored(chat.id)).some((r) => r.compressed)).toBe(false);
  });

  test('manual compaction of an idle chat; a busy chat answers 409', async () => {
    stack.fake.enqueue(kind, reply(text('small answer'), usage(100)));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'iota', modelId, title: 'i' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    stack.fake.enqueueCompletion(kind, text('SUMMARY-IOTA'));
    const res = await stack.http('POST', `/api/v1/chats/${chat.id}/compact`);
    expect(res.status).toBe(202);
    for (let i = 0; i < 200 && !(await stored(chat.id)).some((r) => r.compressed); i++) await new Promise((r) => setTimeout(r, 50));
    await stack.waitForStatus(chat.id, 'waiting');
    const rows = await stored(chat.id);
    expect(rows.filter((r) => r.compressed).map((r) => r.role)).toEqual(['user', 'assistant']);
    const marker = (await messages(chat.id)).find((m) => m.parts[0]?.name === 'chat_summarized');
    expect(marker.parts[0].args.reason).toBe('manual');
    // The next turn starts from the summary.
    stack.fake.enqueue(kind, reply(text('ok'), usage(100)));
    await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'kappa' });
    await stack.waitForStatus(chat.id, 'waiting');
    await waitFor(() => stack.fake.requests(kind).some((b) => textOf(b).includes('kappa')), 10_000);
    const next = textOf(stack.fake.requests(kind).find((b) => textOf(b).includes('kappa')));
    expect(next).toContain('SUMMARY-IOTA');
    expect(next).not.toContain('small answer');

    stack.fake.enqueue(kind, reply(text(...Array.from({ length: 30 }, () => 'x')), { chunkDelayMs: 100 }));
    await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'busy now' });
    await stack.waitForStatus(chat.id, 'running');
    const busy = await stack.http('POST', `/api/v1/chats/${chat.id}/compact`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('conflict');
    expect((await stack.http('POST', '/api/v1/chats/00000000-0000-4000-8000-000000000000/compact')).status).toBe(404);
    await stack.http('POST', `/api/v1/chats/${chat.id}/interrupt`);
    await stack.waitForStatus(chat.id, 'waiting');
  });
});

describe.each(['openai', 'anthropic'] as const)('titles on %s', (kind) => {
  test('a title is generated after the first message and announced', async () => {
    const { modelId } = await stack.setupModel(kind);
    stack.fake.enqueueCompletion(kind, text('"Planning a Garden"'));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'I want to plant tomatoes and basil on my balcony', modelId })).body.chat;
    expect(chat.title).toBe('I want to plant tomatoes and basil on my balcony');
    await stack.waitForWorkflowClosed(chat.id);
    const got = (await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat;
    expect(got.title).toBe('Planning a Garden');
    const titleEvent = (await stack.events(chat.id)).find((e) => e.type === 'title');
    expect(titleEvent?.data).toEqual({ title: 'Planning a Garden' });
    const req = stack.fake.completions(kind).at(-1);
    expect(kind === 'openai' ? req.max_completion_tokens : req.max_tokens).toBe(256);
    expect(textOf(req)).toContain('tomatoes');
  });

  test('a failing title call is harmless: the first words stay, the turn is unaffected', async () => {
    const { modelId } = await stack.setupModel(kind);
    stack.fake.enqueueCompletion(kind, httpError(401), httpError(401), httpError(401));
    stack.fake.enqueue(kind, reply(text('fine')));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'title will fail here', modelId })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    await stack.waitForWorkflowClosed(chat.id);
    const got = (await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat;
    expect(got).toMatchObject({ title: 'title will fail here', status: 'waiting', lastError: null });
    expect((await stack.events(chat.id)).filter((e) => e.type === 'error' || e.type === 'title')).toEqual([]);
  });

  test('a title given at creation is kept (no generation)', async () => {
    const { modelId } = await stack.setupModel(kind);
    const before = stack.fake.completions(kind).length;
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hello', modelId, title: 'My own title' })).body.chat;
    await stack.waitForWorkflowClosed(chat.id);
    expect(stack.fake.completions(kind).length).toBe(before);
    expect((await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat.title).toBe('My own title');
  });
});

test.each(['openai', 'anthropic'] as const)('usage and cost on %s are stored per assistant message at the prices of the time, and summed per chat', async (kind) => {
  const { modelId } = await stack.setupModel(kind, {
    pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
  });
  stack.fake.enqueue(kind,
    reply([toolCall('execute', { command: 'true' })], { usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 5000, cacheWriteTokens: 100 } }),
    reply(text('done'), { usage: { inputTokens: 1500, outputTokens: 50 } }));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'count my tokens', modelId, title: 'usage' })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  const assistants = (await messages(chat.id)).filter((m) => m.role === 'assistant');
  // OpenAI reports cached reads but has no cache writes.
  const cacheWrite = kind === 'anthropic' ? 100 : 0;
  expect(assistants[0].usage).toMatchObject({ inputTokens: 1000, outputTokens: 200, cacheReadTokens: 5000, cacheWriteTokens: cacheWrite });
  const { rows } = await stack.services.pool.query(
    `SELECT cost_micros FROM messages WHERE chat_id = $1 AND role = 'assistant' ORDER BY turn, step`, [chat.id]);
  // 1000×3 + 200×15 + 5000×0.3 + 100×3.75 = 7875 (7500 without the cache write); 1500×3 + 50×15 = 5250 (micro-units)
  const first = kind === 'anthropic' ? 7875 : 7500;
  expect(rows.map((r) => r.cost_micros)).toEqual([first, 5250]);
  // A later price change does not rewrite history.
  await stack.http('PATCH', `/api/v1/models/${modelId}`, { pricing: { inputPerMTok: 100, outputPerMTok: 100 } });
  const got = (await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat;
  expect(got.usage).toEqual({ inputTokens: 2500, outputTokens: 250, costMicros: first + 5250 });
});

describe('compaction with edits and forks', () => {
  test('editing a message before a summary brings back what that summary had compressed', async () => {
    stack.fake.reset();
    const { modelId } = await stack.setupModel('openai', { contextLimit: 1000, compactionThresholdPercent: 70 });
    stack.fake.enqueue('openai', reply(text('FIRST-ANSWER'), usage(100)), reply(text('second answer'), usage(800)), reply(text('after summary'), usage(100)));
    stack.fake.enqueueCompletion('openai', text('SUMMARY-LAMBDA'));
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'FIRST-QUESTION', modelId, title: 'l' })).body.chat;
    await stack.waitForStatus(chat.id, 'waiting');
    await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'second question' });
    await waitFor(() => stack.fake.requests('openai').length >= 3, 10_000);
    await stack.waitForStatus(chat.id, 'waiting');
    expect((await stored(chat.id)).filter((r) => r.compressed).length).toBeGreaterThan(0);

    // Fork at the first answer: the fork has no summary, so nothing in it is compressed.
    const first = (await messages(chat.id)).find((m) => m.parts[0]?.text === 'FIRST-ANSWER');
    const fork = await stack.http('POST', `/api/v1/chats/${chat.id}/fork`, { messageId: first.id });
    expect(fork.status).toBe(201);
    expect((await stored(fork.body.chat.id)).some((r) => r.compressed)).toBe(false);

    // Edit the second question: its turn (and the summary) goes; turn 1 is uncompressed again.
    const second = (await messages(chat.id)).find((m) => m.parts[0]?.text === 'second question');
    stack.fake.enqueue('openai', reply(text('edited answer'), usage(100)));
    const edited = await stack.http('PATCH', `/api/v1/chats/${chat.id}/messages/${second.id}`, { content: 'EDITED-QUESTION' });
    expect(edited.status).toBe(200);
    await waitFor(() => stack.fake.requests('openai').some((b) => textOf(b).includes('EDITED-QUESTION')), 10_000);
    const prompt = textOf(stack.fake.requests('openai').find((b) => textOf(b).includes('EDITED-QUESTION')));
    expect(prompt).toContain('FIRST-QUESTION');
    expect(prompt).toContain('FIRST-ANSWER');
    expect(prompt).not.toContain('SUMMARY-LAMBDA');
    await stack.waitForStatus(chat.id, 'waiting');
  });
});
