/**
 * QueryParams reads EC2 Query-protocol parameters: flat `Name=value` pairs where lists are
 * numbered from 1 (`InstanceId.1`, `Filter.2.Value.1`) and structures are dotted
 * (`MetadataOptions.HttpTokens`).
 */
export class QueryParams {
  private constructor(private readonly map: ReadonlyMap<string, string>) {}

  /** Parameters from a form-encoded body (POST, what the SDK sends) and/or a query string (GET). */
  static parse(body: string, search = ""): QueryParams {
    const map = new Map<string, string>();
    for (const source of [search, body]) {
      for (const [k, v] of new URLSearchParams(source)) map.set(k, v);
    }
    return new QueryParams(map);
  }

  static of(entries: Record<string, string>): QueryParams {
    return new QueryParams(new Map(Object.entries(entries)));
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** `name` as an integer, or undefined when absent. NaN when present but not a number. */
  int(name: string): number | undefined {
    const v = this.map.get(name);
    return v === undefined ? undefined : /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  }

  /** `name` as a boolean ("true"/"false"), or undefined when absent. */
  bool(name: string): boolean | undefined {
    const v = this.map.get(name);
    return v === undefined ? undefined : v === "true";
  }

  /** The structure under `prefix.` (`sub("MetadataOptions").get("HttpTokens")`). */
  sub(prefix: string): QueryParams {
    const p = `${prefix}.`;
    const map = new Map<string, string>();
    for (const [k, v] of this.map) if (k.startsWith(p)) map.set(k.slice(p.length), v);
    return new QueryParams(map);
  }

  /** True if any parameter is `prefix` or under `prefix.`. */
  has(prefix: string): boolean {
    for (const k of this.map.keys()) if (k === prefix || k.startsWith(`${prefix}.`)) return true;
    return false;
  }

  /** The list `prefix.1`, `prefix.2`, ... of scalar values, in index order. */
  list(prefix: string): string[] {
    return this.indices(prefix).flatMap((i) => {
      const v = this.map.get(`${prefix}.${i}`);
      return v === undefined ? [] : [v];
    });
  }

  /** The list `prefix.1.*`, `prefix.2.*`, ... of structures, in index order. */
  members(prefix: string): QueryParams[] {
    return this.indices(prefix).map((i) => this.sub(`${prefix}.${i}`));
  }

  entries(): [string, string][] {
    return [...this.map];
  }

  private indices(prefix: string): number[] {
    const p = `${prefix}.`;
    const found = new Set<number>();
    for (const k of this.map.keys()) {
      if (!k.startsWith(p)) continue;
      const m = /^(\d+)(\.|$)/.exec(k.slice(p.length));
      if (m?.[1] !== undefined) found.add(Number(m[1]));
    }
    return [...found].sort((a, b) => a - b);
  }
}
