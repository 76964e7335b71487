import type {
  ApiClientAuthorization,
  Container,
  ContainerList,
  ContainerStateChange,
  Filter,
} from "./types.js";

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
 * and rejects with an `ArvadosApiError` on a non-2xx reply.
 */
export interface ContainerApi {
  currentAuthorization(): Promise<ApiClientAuthorization>;
  listContainers(params: ListContainersParams): Promise<ContainerList<Partial<Container>>>;
  getContainer(uuid: string, select?: readonly string[]): Promise<Partial<Container>>;
  updateContainer(uuid: string, attrs: Record<string, unknown>, select?: readonly string[]): Promise<Partial<Container>>;
  lockContainer(uuid: string): Promise<ContainerStateChange>;
  unlockContainer(uuid: string): Promise<ContainerStateChange>;
  /** Time of the last 503 seen by this client, or undefined (§3.3 dynamic concurrency limit). */
  last503(): Date | undefined;
}
