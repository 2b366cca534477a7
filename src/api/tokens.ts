/**
 * API tokens: the tokens file (JSON `{"tokens": [{"name", "token", "access"}]}`) parsed into a
 * table that finds a presented bearer token by its SHA-256 digest, so no comparison ever runs
 * over the secret itself. `read-only` tokens may read; `read-write` tokens may also write.
 */

import { createHash } from 'node:crypto';
import { z } from 'zod';

export type Access = 'read-only' | 'read-write';

/** The shortest token accepted, in characters. */
export const tokenLengthMin = 16;

const tokensSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(64),
        token: z
          .string()
          .min(tokenLengthMin, `must be at least ${tokenLengthMin} characters`)
          .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
        access: z.enum(['read-only', 'read-write']),
      }),
    )
    .min(1, 'must list at least one token'),
});

export interface TokenHolder {
  readonly name: string;
  readonly access: Access;
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class ApiTokens {
  readonly #byDigest: ReadonlyMap<string, TokenHolder>;

  private constructor(byDigest: ReadonlyMap<string, TokenHolder>) {
    this.#byDigest = byDigest;
  }

  /** Parses a tokens file's text; throws an Error whose message names the problem. */
  static parse(text: string): ApiTokens {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = tokensSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`is invalid at "${issue.path.join('.')}": ${issue.message}`);
    }
    const byDigest = new Map<string, TokenHolder>();
    for (const t of parsed.data.tokens) {
      const d = digest(t.token);
      if (byDigest.has(d)) throw new Error(`lists the token of "${t.name}" twice`);
      byDigest.set(d, { name: t.name, access: t.access });
    }
    return new ApiTokens(byDigest);
  }

  /** Who holds `token`, or null for an unknown token. */
  holder(token: string): TokenHolder | null {
    return this.#byDigest.get(digest(token)) ?? null;
  }
}
