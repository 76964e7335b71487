import { describe, expect, it } from "vitest";
import type { SimInstance } from "../../local/ec2-sim/model.js";
import { LateTags } from "../../local/worker-sim/late-tags.js";

/*
 * The soak's late order tags: IMDS shows a tag's new value only after its delay, the value
 * before it meanwhile, so the values of one key still arrive in order.
 */

const key = "ArvadosContainer:zzzzz-dz642-000000000000001";
const instance = (tags: Record<string, string>) => ({ instanceId: "i-1", tags }) as unknown as SimInstance;

describe("LateTags shows an order tag's value late, and in order", () => {
  it("hides a new tag until its delay passed, then shows it", () => {
    let now = 1_000;
    const late = new LateTags(
      (_id, k) => (k === key ? 5_000 : 0),
      () => now,
    );
    const i = instance({ [key]: "run:1", ArvadosWorker: "pool" });
    expect(late.view(i).tags).toEqual({ ArvadosWorker: "pool" });
    now += 4_999;
    expect(late.view(i).tags).toEqual({ ArvadosWorker: "pool" });
    now += 1;
    expect(late.view(i).tags).toEqual({ [key]: "run:1", ArvadosWorker: "pool" });
    expect(late.delayed).toBe(1);
  });

  it("serves the value before a late one meanwhile (a kill order replacing a run order)", () => {
    let now = 0;
    let delay = 0;
    const late = new LateTags(
      () => delay,
      () => now,
    );
    late.view(instance({ [key]: "run:1" }));
    delay = 3_000;
    now = 10;
    expect(late.view(instance({ [key]: "kill:1" })).tags).toEqual({ [key]: "run:1" });
    now = 3_010;
    expect(late.view(instance({ [key]: "kill:1" })).tags).toEqual({ [key]: "kill:1" });
  });

  it("passes the instance through untouched when nothing is late", () => {
    const i = instance({ [key]: "run:1" });
    expect(new LateTags(() => 0).view(i)).toBe(i);
  });
});
