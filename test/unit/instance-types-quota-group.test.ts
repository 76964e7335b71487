import { describe, expect, it } from "vitest";
import { defaultInstanceTypeQuotaGroups } from "../../lib/config/schema.js";
import { instanceQuotaGroup } from "../../lib/model/quota-group.js";

const group = (ProviderType: string, groups: Record<string, string> = {}, Preemptible = false) =>
  instanceQuotaGroup({ ProviderType, Preemptible }, groups);

describe("the quota group is the alphabetic prefix of the provider type (§4.3)", () => {
  it.each([
    ["g1.large", "g"],
    ["trn1.32xlarge", "trn"],
    ["x2iedn.xlarge", "x"],
    ["M5.Large", "m"],
  ])("%s → %s", (providerType, expected) => {
    expect(group(providerType)).toBe(expected);
  });

  it('an empty provider type has group ""', () => {
    expect(group("")).toBe("");
  });

  it('a provider type of lower-case letters only has group "" (upstream never sets it)', () => {
    expect(group("large", { large: "x" })).toBe("");
  });
});

describe("the longest configured prefix at least as long as the alphabetic prefix overrides it", () => {
  it("m1.xlarge with {m: standard} → standard", () => {
    expect(group("m1.xlarge", { m: "standard" })).toBe("standard");
  });

  it("a longer configured prefix wins over a shorter one", () => {
    expect(group("p5.48xlarge", { p: "p", p5: "p5" })).toBe("p5");
    expect(group("p4d.24xlarge", { p: "p", p5: "p5" })).toBe("p");
  });

  it("a prefix shorter than the alphabetic prefix is not consulted: trn1 does not use t", () => {
    expect(group("trn1.32xlarge", { t: "standard" })).toBe("trn");
    expect(group("trn1.32xlarge", { t: "standard", trn1: "trn" })).toBe("trn");
  });

  it("the whole provider type is never looked up, only its proper prefixes", () => {
    expect(group("m5.large", { m: "standard", "m5.large": "whole" })).toBe("standard");
    expect(group("m5.large", { m: "standard", "m5.larg": "almost" })).toBe("almost");
  });

  it("an empty configured name does not override", () => {
    expect(group("m5.large", { m: "" })).toBe("m");
  });

  it("with upstream's default groups: m/c/r are standard, g4dn is g, vt1 is g", () => {
    expect(group("m5.large", { ...defaultInstanceTypeQuotaGroups })).toBe("standard");
    expect(group("c5.xlarge", { ...defaultInstanceTypeQuotaGroups })).toBe("standard");
    expect(group("r5.large", { ...defaultInstanceTypeQuotaGroups })).toBe("standard");
    expect(group("g4dn.xlarge", { ...defaultInstanceTypeQuotaGroups })).toBe("g");
    expect(group("vt1.3xlarge", { ...defaultInstanceTypeQuotaGroups })).toBe("g");
  });
});

describe('preemptible types are in a separate "-spot" group', () => {
  it("p5.xlarge with {p5: p5} → p5-spot", () => {
    expect(group("p5.xlarge", { p5: "p5" }, true)).toBe("p5-spot");
  });

  it('even an empty group gets the suffix, as upstream: "" → "-spot"', () => {
    expect(group("", {}, true)).toBe("-spot");
  });
});
