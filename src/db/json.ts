/**
 * JSON text for a jsonb column. PostgreSQL's jsonb cannot hold U+0000, which tool output (binary
 * files, `printf '\0'`) and user input can contain: it becomes U+FFFD instead of failing the write.
 */
export function toJsonb(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v));
}
