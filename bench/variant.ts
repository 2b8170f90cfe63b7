/** `--worker-variant=prebundled,threads=2`: the proposed changes bench/variant-worker.ts applies. */
export type Variant = Map<string, string>;

export const VARIANT_KEYS = ['prebundled', 'threads', 'activity-slots', 'wft-slots', 'memory-log', 'semi-space', 'malloc-arenas', 'optimize-for-size', 'heap-growing', 'alloc-profile'] as const;

export function parseVariant(spec: string): Variant {
  return new Map(spec.split(',').filter(Boolean).map((part) => {
    const at = part.indexOf('=');
    const key = at < 0 ? part : part.slice(0, at);
    if (!(VARIANT_KEYS as readonly string[]).includes(key)) throw new Error(`unknown worker variant ${key} (known: ${VARIANT_KEYS.join(', ')})`);
    return [key, at < 0 ? '' : part.slice(at + 1)];
  }));
}

/** What a variant changes outside the worker's code: node flags and environment of its process. */
export function variantProcess(variant: Variant): { nodeFlags: string[]; env: Record<string, string> } {
  const positive = (k: string) => {
    const value = Number(variant.get(k));
    if (!Number.isInteger(value) || value < 1) throw new Error(`worker variant ${k} needs a positive integer, got ${JSON.stringify(variant.get(k))}`);
    return value;
  };
  return {
    nodeFlags: [
      ...(variant.has('semi-space') ? [`--max-semi-space-size=${positive('semi-space')}`] : []),
      ...(variant.has('optimize-for-size') ? ['--optimize-for-size'] : []),
      ...(variant.has('heap-growing') ? [`--heap-growing-percent=${positive('heap-growing')}`] : []),
    ],
    env: variant.has('malloc-arenas') ? { MALLOC_ARENA_MAX: String(positive('malloc-arenas')) } : {},
  };
}
