/**
 * API tokens the simulator accepts. A token is `v2/<uuid>/<secret>` (the bare secret is also
 * accepted, as upstream does); its uuid is what `locked_by_uuid` records (§5.4). The system
 * root token is admin; more tokens, admin or not, can be added so several dispatchers compete.
 */

import { randomBytes } from "node:crypto";

/** One accepted token. */
export interface SimToken {
  /** `<cluster>-gj3su-<15 chars>`: the token's ApiClientAuthorization uuid. */
  uuid: string;
  secret: string;
  admin: boolean;
  /** The user the token belongs to (`modified_by_user_uuid` of its changes). */
  userUuid: string;
}

/** Who is making a request: what the rules need, never the secret. */
export interface Caller {
  tokenUuid: string;
  userUuid: string;
  admin: boolean;
}

/** The `v2/<uuid>/<secret>` form of a token. */
export function tokenString(token: SimToken): string {
  return `v2/${token.uuid}/${token.secret}`;
}

/** The Caller a token acts as. */
export function callerOf(token: SimToken): Caller {
  return { tokenUuid: token.uuid, userUuid: token.userUuid, admin: token.admin };
}

function randomSecret(): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  return Array.from(randomBytes(50), (b) => alphabet[b % 36]).join("");
}

/** A 15-character uuid tail from a counter, zero-padded base 36 so uuids sort in creation order. */
export function uuidTail(n: number): string {
  return n.toString(36).padStart(15, "0");
}

/** The TokenRegistry knows every accepted token and authenticates Authorization headers. */
export class TokenRegistry {
  readonly root: SimToken;
  readonly #bySecret = new Map<string, SimToken>();
  #counter = 0;

  constructor(
    private readonly clusterId: string,
    rootSecret?: string,
  ) {
    this.root = this.#register({
      uuid: `${clusterId}-gj3su-${uuidTail(0)}`,
      secret: rootSecret ?? randomSecret(),
      admin: true,
      userUuid: `${clusterId}-tpzed-${uuidTail(0)}`,
    });
  }

  /** Adds a token; `secret` defaults to a random one. */
  add(options: { admin: boolean; secret?: string }): SimToken {
    const n = this.#nextNumber();
    return this.#register({
      uuid: `${this.clusterId}-gj3su-${uuidTail(n)}`,
      secret: options.secret ?? randomSecret(),
      admin: options.admin,
      userUuid: `${this.clusterId}-tpzed-${uuidTail(n)}`,
    });
  }

  /** A fresh ApiClientAuthorization uuid for a container's runtime token (`auth_uuid`, §5.4). */
  newAuthUuid(): string {
    return `${this.clusterId}-gj3su-${uuidTail(this.#nextNumber())}`;
  }

  /** Every accepted token, root first. */
  list(): SimToken[] {
    return [...this.#bySecret.values()];
  }

  /**
   * The token an `Authorization: Bearer <token>` (or `OAuth2 <token>`) header names, or
   * undefined. A v2 token must carry the right uuid for its secret.
   */
  authenticate(header: string | undefined): SimToken | undefined {
    const match = /^(?:Bearer|OAuth2)\s+(\S+)\s*$/i.exec(header ?? "");
    const presented = match?.[1];
    if (presented === undefined) return undefined;
    if (presented.startsWith("v2/")) {
      const [, uuid, secret] = presented.split("/");
      const token = secret === undefined ? undefined : this.#bySecret.get(secret);
      return token !== undefined && token.uuid === uuid ? token : undefined;
    }
    return this.#bySecret.get(presented);
  }

  #nextNumber(): number {
    this.#counter += 1;
    return this.#counter;
  }

  #register(token: SimToken): SimToken {
    if (this.#bySecret.has(token.secret)) throw new Error("duplicate token secret");
    this.#bySecret.set(token.secret, token);
    return token;
  }
}
