// Encryption at rest of provider API keys. Format: `v1:<iv>:<tag>:<ciphertext>` (base64url parts),
// AES-256-GCM under a key derived from PARLEY_SECRET_KEY. The version prefix leaves room for a
// later key rotation or algorithm change without guessing what an old value is.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const VERSION = 'v1';
// Fixed salt: the derived key must be the same on every process that shares PARLEY_SECRET_KEY.
const SALT = 'parley/provider-api-keys/v1';
// Binds ciphertexts to their purpose, so a value copied from another GCM user of the same key fails.
const AAD = Buffer.from('parley provider api key');
const IV_BYTES = 12;

export const SECRET_KEY_REQUIRED = 'PARLEY_SECRET_KEY must be set to store provider API keys';

export class SecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsError';
  }
}

export interface SecretBox {
  /** False when no PARLEY_SECRET_KEY is configured: nothing can be encrypted or decrypted. */
  readonly available: boolean;
  encrypt(plaintext: string): string;
  /** Throws SecretsError for a malformed value or one encrypted under another key. */
  decrypt(stored: string): string;
}

// scrypt is deliberately slow (~50 ms); derive once per secret per process.
const derived = new Map<string, Buffer>();
function deriveKey(secretKey: string): Buffer {
  let key = derived.get(secretKey);
  if (!key) {
    key = scryptSync(secretKey, SALT, 32);
    derived.set(secretKey, key);
  }
  return key;
}

export function createSecretBox(secretKey: string | undefined): SecretBox {
  const key = secretKey ? deriveKey(secretKey) : null;
  const requireKey = (): Buffer => {
    if (!key) throw new SecretsError(SECRET_KEY_REQUIRED);
    return key;
  };
  return {
    available: key !== null,
    encrypt(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', requireKey(), iv);
      cipher.setAAD(AAD);
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv, cipher.getAuthTag(), ct].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join(':');
    },
    decrypt(stored) {
      const k = key;
      if (!k) throw new SecretsError('PARLEY_SECRET_KEY must be set to use stored provider API keys');
      const [version, iv, tag, ct, ...rest] = stored.split(':');
      if (version !== VERSION || iv === undefined || tag === undefined || ct === undefined || rest.length) {
        throw new SecretsError(`unsupported encrypted value format (expected ${VERSION})`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
        decipher.setAAD(AAD);
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretsError('cannot decrypt: the value was encrypted with a different PARLEY_SECRET_KEY or is corrupt');
      }
    },
  };
}
