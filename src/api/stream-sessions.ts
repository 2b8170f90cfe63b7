// The SSE streams this API process holds open, by user and token: a cap per user, and streams of a
// revoked token closed. A stream is authenticated once, when it opens; without this it would keep
// flowing for as long as the client stays connected, whatever happened to its token since.
import type { Pool } from '../db/pool.ts';
import { liveTokenIds } from '../db/users.ts';
import type { AuthUser } from './auth-user.ts';
import { HttpError } from './errors.ts';
import type { SseStream } from './sse.ts';

export interface StreamSessionOptions {
  /** Open streams one user may hold in this process; the next is refused with 429. */
  maxPerUser: number;
  /** How often the tokens of open streams are looked up again (a revocation through another API process). */
  recheckMs: number;
}

interface Session { userId: string; tokenId: string | undefined; sse: SseStream }

export interface StreamTicket {
  /** The stream is open: from now on it counts until it closes. */
  attach(sse: SseStream): void;
  /** The route answered without a stream (404, 400): the reserved place is given back. */
  release(): void;
}

export class StreamSessions {
  private readonly sessions = new Set<Session>();
  private readonly perUser = new Map<string, number>();
  private readonly pool: Pool;
  private readonly options: StreamSessionOptions;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(pool: Pool, options: StreamSessionOptions) {
    this.pool = pool;
    this.options = options;
  }

  /** Reserves a place for `user`'s next stream, or throws 429 when they hold the most allowed. */
  reserve(user: AuthUser): StreamTicket {
    const held = this.perUser.get(user.id) ?? 0;
    if (held >= this.options.maxPerUser) {
      throw new HttpError(429, 'too_many_streams',
        `you have ${held} event streams open, the most one user may have; close some (each browser tab or \`parley\` command holds one)`,
        { 'retry-after': '5' });
    }
    this.perUser.set(user.id, held + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const n = (this.perUser.get(user.id) ?? 1) - 1;
      if (n <= 0) this.perUser.delete(user.id);
      else this.perUser.set(user.id, n);
    };
    return {
      attach: (sse) => {
        const session: Session = { userId: user.id, tokenId: user.tokenId, sse };
        this.sessions.add(session);
        this.ensureTimer();
        sse.onClose(() => {
          this.sessions.delete(session);
          release();
        });
      },
      release,
    };
  }

  /** Ends the streams opened with `tokenId` (it was just revoked in this process). */
  revokeToken(tokenId: string): void {
    for (const s of this.sessions) if (s.tokenId === tokenId) s.sse.close('end');
  }

  /** Looks up the tokens of every open stream and ends the streams whose token is gone. */
  async recheck(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const ids = [...new Set([...this.sessions].map((s) => s.tokenId).filter((id): id is string => id !== undefined))];
      if (ids.length === 0) return;
      const live = await liveTokenIds(this.pool, ids);
      for (const s of this.sessions) if (s.tokenId !== undefined && !live.has(s.tokenId)) s.sse.close('end');
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private ensureTimer(): void {
    if (this.timer !== undefined) return;
    // A failed lookup (database away) keeps the streams; the next one decides.
    this.timer = setInterval(() => { void this.recheck().catch(() => {}); }, this.options.recheckMs);
    this.timer.unref();
  }
}
