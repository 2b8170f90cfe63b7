// What the fake provider should answer, carried in the user message itself. The fake is stateless:
// it reads the last user message of each request and counts the tool results after it, so any
// number of chats can run at once without a shared script queue.

export interface Directive {
  /** Run key: the fake reports a client closing this reply early under it (interrupt figure). */
  k?: string;
  /** Text deltas of the final answer. */
  tokens: number;
  /** Milliseconds before each delta after the first. */
  delay: number;
  /** Milliseconds before the first delta: the provider's own time to first token. */
  first: number;
  /** Steps that call a tool (write_file) before the final answer. */
  tools: number;
  /** Bytes of text in every message: the user message, each step's text and tool arguments, the answer. */
  size: number;
  /**
   * Stamp each delta with its send time and the replies the fake was streaming at that moment
   * (`<t:epoch-ms:open>`), the first also with the request time (`<r:...>`).
   */
  stamp: boolean;
}

export const defaultDirective: Directive = { tokens: 1, delay: 0, first: 0, tools: 0, size: 0, stamp: false };

const MARK = 'bench ';

/** The user message carrying `d`, padded to `d.size` bytes. */
export function directiveMessage(d: Partial<Directive>): string {
  const full = { ...defaultDirective, ...d };
  const head = `${MARK}${JSON.stringify(full)}`;
  return full.size > head.length ? `${head} ${'u'.repeat(full.size - head.length - 1)}` : head;
}

export function parseDirective(text: string): Directive | null {
  const at = text.indexOf(MARK);
  if (at < 0) return null;
  const end = text.indexOf('}', at);
  if (end < 0) return null;
  try {
    return { ...defaultDirective, ...(JSON.parse(text.slice(at + MARK.length, end + 1)) as Partial<Directive>) };
  } catch {
    return null;
  }
}

const STAMP = /<t:(\d+(?:\.\d+)?):(\d+)>/g;
const REQUEST = /<r:(\d+(?:\.\d+)?)>/;

export const stampText = (t: number, open: number): string => `<t:${t.toFixed(3)}:${open}>`;
export const requestStampText = (t: number): string => `<r:${t.toFixed(3)}>`;

export interface Stamp {
  /** When the fake sent the delta (its clock). */
  t: number;
  /** Replies the fake was streaming at that moment, this one included. */
  open: number;
}

/** The stamps in `text` (works on raw JSON too: JSON.stringify leaves `<`, `:` and `>` alone). */
export function stampsIn(text: string): Stamp[] {
  const out: Stamp[] = [];
  for (const m of text.matchAll(STAMP)) out.push({ t: Number(m[1]), open: Number(m[2]) });
  return out;
}

export function requestStampIn(text: string): number | null {
  const m = REQUEST.exec(text);
  return m ? Number(m[1]) : null;
}
