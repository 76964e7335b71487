import { describe, expect, it } from "vitest";
import { checkDriverRegion, RegionMismatchError } from "../../lib/cloud/client.js";

describe("DriverParameters.Region is honoured: the functions launch in their own region (issue #17.4)", () => {
  it("accepts an empty Region (take the deployment's) and the deployment's own", () => {
    expect(() => checkDriverRegion("", "eu-west-1")).not.toThrow();
    expect(() => checkDriverRegion("eu-west-1", "eu-west-1")).not.toThrow();
  });

  it("refuses another region at cold start, naming both", () => {
    expect(() => checkDriverRegion("us-west-2", "eu-west-1")).toThrow(RegionMismatchError);
    expect(() => checkDriverRegion("us-west-2", "eu-west-1")).toThrow(
      /Region is us-west-2 but this deployment runs in eu-west-1/,
    );
  });
});
