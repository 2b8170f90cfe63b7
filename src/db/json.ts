/**
 * Text PostgreSQL can store. Its jsonb cannot hold U+0000, which tool output (binary files,
 * `printf '\0'`) and user input can contain, and its JSON parser rejects a lone UTF-16 surrogate (JSON
 * input can carry one as `"\ud800"`, and JSON.stringify writes one that way): both become U+FFFD
 * instead of failing the write.
 */
export function storableText(text: string): string {
  const wellFormed = text.toWellFormed();
  return wellFormed.includes('\0') ? wellFormed.replaceAll('\0', '\uFFFD') : wellFormed;
}

/** JSON text for a jsonb column, every string made storable (see storableText). */
export function toJsonb(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? storableText(v) : v));
}
