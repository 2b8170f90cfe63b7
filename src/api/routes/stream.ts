import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { streamSnapshot } from '../../db/chats.ts';
import { isUuid } from '../../shared/ids.ts';
import type { ChatEvent } from '../../shared/types.ts';
import type { ApiDeps } from '../deps.ts';
import { badRequest, notFound, toHttpError } from '../errors.ts';
import type { DomainError } from '../../shared/errors.ts';
import { errorResponses, IdParams } from '../schemas.ts';
import { formatSse, openSse, trackStreams, type SseStream } from '../sse.ts';
import type { StreamSessions } from '../stream-sessions.ts';
import { trackSse } from './metrics.ts';

export interface StreamRouteOptions {
  deps: ApiDeps;
  keepAliveMs?: number;
  /**
   * A client with more live bytes than this not yet taken by its socket (or more than `maxQueuedEvents`
   * events) is disconnected; it resumes from the log with its last id. The backlog is paced instead.
   */
  maxBufferedBytes?: number;
  maxQueuedEvents?: number;
  sessions?: StreamSessions;
}

// One serialisation per event and process: the hub hands every subscriber the same object.
const blocks = new WeakMap<ChatEvent, string>();
function blockOf(event: ChatEvent): string {
  let block = blocks.get(event);
  if (block === undefined) {
    block = formatSse({ id: event.id, event: event.type, data: event.data });
    blocks.set(event, block);
  }
  return block;
}

const PAGE = 500;

function sendError(reply: FastifyReply, err: DomainError): FastifyReply {
  const http = toHttpError(err);
  return reply.code(http.statusCode).send({ error: { code: http.code, message: http.message } });
}

/** Resume point from `Last-Event-ID` (what EventSource sends on reconnect) or `?after=`; null when neither. */
function resumePoint(header: string | string[] | undefined, query: string | undefined): number | null | 'invalid' {
  const raw = (Array.isArray(header) ? header[0] : header)?.trim() || query?.trim();
  if (!raw) return null;
  if (!/^\d{1,15}$/.test(raw)) return 'invalid';
  return Number(raw);
}

export const streamRoutes: FastifyPluginAsyncTypebox<StreamRouteOptions> = async (app, options) => {
  const { pool, events, hub } = options.deps;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const maxQueuedEvents = options.maxQueuedEvents ?? 5_000;
  const streams = trackStreams(app);

  // Registered under the /api/v1 prefix like the other route plugins.
  app.get('/chats/:id/stream', {
    schema: {
      summary: 'Server-sent events of a chat: its status, then the events after Last-Event-ID (or ?after=), then live ones',
      description: 'Without a resume id, the deltas of the message still streaming come first. Event names: '
        + 'status, message_part, message, retry, error, queue_update, title; `id` is the per-chat event id.',
      tags: ['chats'],
      params: IdParams,
      querystring: Type.Object({ after: Type.Optional(Type.String({ description: 'Resume after this event id (like Last-Event-ID)' })) }),
      response: errorResponses,
    },
  }, async (request, reply) => {
    const chatId = request.params.id;
    if (!isUuid(chatId)) return sendError(reply, notFound('chat'));
    const resume = resumePoint(request.headers['last-event-id'], request.query.after);
    if (resume === 'invalid') return sendError(reply, badRequest('Last-Event-ID and after must be event ids (non-negative integers)'));
    const ticket = options.sessions?.reserve(request.user);

    // Subscribe before reading anything, so every event committed from here on is either read below or
    // queued; `lastSent` then drops what arrives twice.
    const queue: ChatEvent[] = [];
    let queuedBytes = 0;
    let stream: SseStream | null = null;
    let overflow = false;
    let live = false;
    let pumping = false;
    let lastSent = 0;
    const unsubscribe = hub.subscribe(chatId, (event) => {
      if (overflow || stream?.closed) return;
      queue.push(event);
      queuedBytes += blockOf(event).length;
      // Too far behind: drop it rather than hold memory for it; it resumes from the log with its last id.
      if (queue.length > maxQueuedEvents || queuedBytes + (stream?.bufferedBytes ?? 0) > maxBufferedBytes) {
        overflow = true;
        stream?.close('destroy');
      } else if (live) {
        void pump();
      }
    });

    let row: Awaited<ReturnType<typeof streamSnapshot>>;
    try {
      // One snapshot: the status is the one as of event `last_event_id`.
      row = await streamSnapshot(pool, request.user.id, chatId);
    } catch (err) {
      unsubscribe();
      ticket?.release();
      throw err;
    }
    if (!row) {
      unsubscribe();
      ticket?.release();
      return sendError(reply, notFound('chat'));
    }

    reply.hijack();
    const sse = openSse(reply.raw, { keepAliveMs, headers: reply.getHeaders() });
    stream = sse;
    streams.add(sse);
    ticket?.attach(sse);
    trackSse(request, sse);
    sse.onClose(() => {
      unsubscribe();
      queue.length = 0;
    });
    if (overflow) sse.close('destroy');

    const send = (event: ChatEvent) => {
      sse.write(blockOf(event));
      lastSent = event.id;
    };
    /** Sends what the log holds after `lastSent` (at least through `upTo`), at the client's pace. */
    const sendFromLog = async (upTo: number) => {
      for (;;) {
        const page = await events.readAfter(chatId, lastSent, PAGE);
        for (const event of page) {
          if (sse.needsDrain) await sse.drained();
          if (sse.closed) return;
          send(event);
        }
        if (page.length < PAGE || page.at(-1)!.id >= upTo) return;
      }
    };
    async function pump(): Promise<void> {
      if (pumping) return;
      pumping = true;
      try {
        while (queue.length > 0 && !sse.closed) {
          // Socket full: the events wait in `queue` (shared objects, counted against the limit above).
          if (sse.needsDrain) {
            await sse.drained();
            continue;
          }
          const event = queue.shift()!;
          queuedBytes -= blockOf(event).length;
          if (event.id <= lastSent) continue;
          // The hub hands over ids in order; a gap means ids it could not get (pruned deltas) or missed,
          // and the log is the one to ask.
          if (event.id > lastSent + 1) await sendFromLog(event.id - 1);
          if (event.id > lastSent && !sse.closed) send(event);
        }
      } catch (err) {
        fail(err);
      } finally {
        pumping = false;
      }
    }
    function fail(err: unknown): void {
      request.log.warn({ err, chatId }, 'event stream failed; the client resumes from its last id');
      sse.close('destroy');
    }

    sse.send({ event: 'status', data: { status: row.status, lastError: row.last_error } });
    try {
      if (resume !== null) {
        // A client claiming ids this chat never had must still get the ones that come next.
        lastSent = Math.min(resume, row.last_event_id);
        await sendFromLog(Infinity);
      } else {
        // A fresh client loaded the stored messages; it needs the deltas of the message still streaming.
        for (const part of await events.inProgressParts(chatId)) {
          if (part.id > row.last_event_id) break;
          if (sse.needsDrain) await sse.drained();
          if (sse.closed) break;
          send(part);
        }
        if (row.last_event_id > lastSent) sse.sendId(row.last_event_id);
        lastSent = row.last_event_id;
      }
      live = true;
      await pump();
    } catch (err) {
      fail(err);
    }
  });
};
