import type { Container, ContainerStateChange, Mount, QueuedContainer } from "./container.js";

/** Parameters of the containers list call (§5.7), sent in upstream's wire format (§1.11). */
export interface ListContainersParams {
  filters?: Filter[];
  order?: string;
  limit?: number;
  offset?: number;
  count?: "none" | "exact";
  select?: readonly string[];
}

/**
 * The narrow view of the Arvados API that the queue, the launcher and cleanup depend on
 * (upstream `container.APIClient`, specialised). Every method blocks until the API answers
 * and, on a non-2xx reply, rejects with an error whose `status` is the HTTP status (see
 * {@link apiStatus}; lib/arvados's `ArvadosApiError`).
 */
export interface ContainerApi {
  currentAuthorization(): Promise<ApiClientAuthorization>;
  /**
   * A page of the queue's list (§1.6): the attributes the queue selects, each record as the
   * queue caches it (the server's defaults filled in, the uuid checked), or a rejection naming
   * the container and field that could not be decoded.
   */
  listQueuedContainers(params: Omit<ListContainersParams, "select">): Promise<ContainerList<QueuedContainer>>;
  getContainer(uuid: string, select?: readonly string[]): Promise<Partial<Container>>;
  /** The container's mounts as Go decodes them (§1.8), or the decoding error Go would give. */
  getContainerMounts(uuid: string): Promise<DecodedMounts>;
  updateContainer(
    uuid: string,
    attrs: Record<string, unknown>,
    select?: readonly string[],
  ): Promise<Partial<Container>>;
  lockContainer(uuid: string): Promise<ContainerStateChange>;
  unlockContainer(uuid: string): Promise<ContainerStateChange>;
  /** Time of the last 503 seen by this client, or undefined (§3.3 dynamic concurrency limit). */
  last503(): Date | undefined;
}

/** `ContainerList` (§5.7). `items_available` is absent with `count=none`. */
export interface ContainerList<T = Container> {
  kind?: string;
  items: T[];
  items_available?: number;
  offset?: number;
  limit?: number;
}

/** A list filter `[attr, operator, operand]` (§5.7). */
export type Filter = [string, string, unknown];

/** The dispatcher's own token record (`api_client_authorizations/current`). */
export interface ApiClientAuthorization {
  uuid: string;
  [key: string]: unknown;
}

/** The HTTP status of a ContainerApi rejection that carries one (the API answered), else undefined. */
export function apiStatus(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("status" in err)) return undefined;
  return typeof err.status === "number" ? err.status : undefined;
}

/** A container's `mounts` decoded as upstream's Go code would, or Go's decoding error text (§1.8, #21314). */
export type DecodedMounts = { mounts: Record<string, Mount> } | { error: string };
