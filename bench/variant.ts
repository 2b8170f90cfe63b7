/** `--worker-variant=prebundled,threads=2`: the proposed changes bench/variant-worker.ts applies. */
export type Variant = Map<string, string>;

export const VARIANT_KEYS = ['prebundled', 'threads', 'activity-slots', 'wft-slots', 'memory-log'] as const;

export function parseVariant(spec: string): Variant {
  return new Map(spec.split(',').filter(Boolean).map((part) => {
    const at = part.indexOf('=');
    const key = at < 0 ? part : part.slice(0, at);
    if (!(VARIANT_KEYS as readonly string[]).includes(key)) throw new Error(`unknown worker variant ${key} (known: ${VARIANT_KEYS.join(', ')})`);
    return [key, at < 0 ? '' : part.slice(at + 1)];
  }));
}
