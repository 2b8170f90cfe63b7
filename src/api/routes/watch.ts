import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ChatChangeNotice } from '../../events/chat-changes.ts';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { errorResponses } from '../schemas.ts';
import { openSse, trackStreams } from '../sse.ts';
import type { StreamSessions } from '../stream-sessions.ts';
import { trackSse } from './metrics.ts';

export interface WatchRouteOptions {
  deps: ApiDeps;
  keepAliveMs?: number;
  /** A client this far behind (bytes its socket has not taken) is dropped; it reconnects and reloads. */
  maxBufferedBytes?: number;
  sessions?: StreamSessions;
}

const isNotice = (v: unknown): v is ChatChangeNotice =>
  typeof v === 'object' && v !== null && ('resync' in v || ('changes' in v && Array.isArray(v.changes)));

export const watchRoutes: FastifyPluginAsyncTypebox<WatchRouteOptions> = async (app, options) => {
  const { hub } = options.deps;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
  const streams = trackStreams(app);

  // A static path: fastify's router prefers it over /chats/:id whatever the registration order.
  app.get('/chats/watch', {
    schema: {
      summary: 'Server-sent events of changes to your chat list',
      description: 'Each change is an `event: chat` with data `{change, chat}`: `change` is one of `created`, '
        + '`title`, `archived`, `status`, `deleted` (an update of several fields sends one event per field), '
        + '`chat` is `{id, title, status, archived, createdAt, updatedAt}` after the change (for `deleted`: as it was). '
        + 'Events carry no id and are not replayed: open the stream, then load GET /chats. `event: resync` '
        + '(data `{}`) means changes may have been missed: reload the list. `: keep-alive` comments every 15 s.',
      tags: ['chats'],
      response: errorResponses,
    },
  }, async (request, reply) => {
    if (!hub.subscribeUser) throw new HttpError(501, 'not_implemented', 'this server cannot watch chat lists');
    const ticket = options.sessions?.reserve(request.user);
    reply.hijack();
    const sse = openSse(reply.raw, { keepAliveMs, headers: reply.getHeaders() });
    ticket?.attach(sse);
    streams.add(sse);
    trackSse(request, sse);
    // Subscribed in the same tick the headers go out: no change after the client saw 200 is missed.
    const unsubscribe = hub.subscribeUser(request.user.id, (notice) => {
      if (!isNotice(notice) || sse.closed) return;
      if ('resync' in notice) sse.send({ event: 'resync', data: {} });
      else for (const change of notice.changes) sse.send({ event: 'chat', data: change });
      if (sse.bufferedBytes > maxBufferedBytes) sse.close('destroy');
    });
    sse.onClose(unsubscribe);
  });
};
