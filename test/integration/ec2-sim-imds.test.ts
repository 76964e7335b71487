import {
  CreateTagsCommand,
  DeleteTagsCommand,
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { afterEach, describe, expect, it } from "vitest";
import { ImdsServer } from "../../local/ec2-sim/imds.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { localEc2Client } from "../support/ec2.js";

let sim: Ec2Simulator;
let imds: ImdsServer;
let ec2: EC2Client;
let wallClock = 0;

async function start(options: { instanceLimit?: number } = {}): Promise<void> {
  sim = new Ec2Simulator(options);
  ec2 = localEc2Client(await sim.start());
  wallClock = Date.UTC(2026, 0, 1);
  imds = new ImdsServer(
    (id) => sim.instance(id),
    () => wallClock,
  );
  await imds.start();
}

afterEach(async () => {
  ec2?.destroy();
  await imds?.stop();
  await sim?.stop();
});

/** A worker launch: IMDSv2 required, tags in IMDS. */
function workerLaunch(over: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput {
  return {
    ImageId: "ami-0123",
    InstanceType: "m5.large",
    MinCount: 1,
    MaxCount: 1,
    UserData: Buffer.from("#!/bin/sh\n#arvados-run 0 x\n").toString("base64"),
    MetadataOptions: {
      HttpEndpoint: "enabled",
      HttpTokens: "required",
      HttpPutResponseHopLimit: 1,
      InstanceMetadataTags: "enabled",
    },
    TagSpecifications: [
      { ResourceType: "instance", Tags: [{ Key: "ArvadosInstanceSetID", Value: "zzzzz-gj3su-000000000000000" }] },
    ],
    ...over,
  };
}

async function launch(over: Partial<RunInstancesCommandInput> = {}): Promise<string[]> {
  const r = await ec2.send(new RunInstancesCommand(workerLaunch(over)));
  sim.tick();
  return (r.Instances ?? []).map((i) => i.InstanceId ?? "");
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "no error",
    (err: unknown) => (err instanceof Error ? err.name : String(err)),
  );
}

/** An IMDSv2 session token for `instanceId`. */
async function sessionToken(instanceId: string, ttlSeconds = 60): Promise<string> {
  const r = await fetch(`${imds.endpointFor(instanceId)}/latest/api/token`, {
    method: "PUT",
    headers: { "X-aws-ec2-metadata-token-ttl-seconds": String(ttlSeconds) },
  });
  expect(r.status).toBe(200);
  return r.text();
}

async function get(instanceId: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  const r = await fetch(
    `${imds.endpointFor(instanceId)}/latest/${path}`,
    token === undefined ? {} : { headers: { "X-aws-ec2-metadata-token": token } },
  );
  return { status: r.status, body: await r.text() };
}

describe("RunInstances launches between MinCount and MaxCount instances in one reservation, each with its ami-launch-index", () => {
  it("launches MaxCount instances with launch indexes 0..k-1 sharing one reservation and user data", async () => {
    await start();
    const ids = await launch({ MaxCount: 3 });
    expect(ids).toHaveLength(3);
    const instances = ids.map((id) => sim.instance(id));
    expect(instances.map((i) => i?.amiLaunchIndex)).toEqual([0, 1, 2]);
    expect(new Set(instances.map((i) => i?.reservationId)).size).toBe(1);
    expect(new Set(instances.map((i) => i?.userData)).size).toBe(1);
  });

  it("gives each instance of the call its own tags: tagging one leaves its siblings as they were", async () => {
    await start();
    const [first = "", second = ""] = await launch({ MaxCount: 2 });
    await ec2.send(new CreateTagsCommand({ Resources: [second], Tags: [{ Key: "only", Value: "second" }] }));
    expect(sim.instance(first)?.tags.only).toBeUndefined();
    expect(sim.instance(second)?.tags.only).toBe("second");
  });

  it("launches fewer than MaxCount when the quota leaves less room, and refuses below MinCount", async () => {
    await start({ instanceLimit: 4 });
    expect(await launch({ MaxCount: 3 })).toHaveLength(3);
    expect(await launch({ MaxCount: 3 })).toHaveLength(1);
    expect(await errorCode(launch({ MinCount: 1, MaxCount: 2 }))).toBe("InstanceLimitExceeded");
  });

  it("answers a repeated ClientToken with every instance of the first call", async () => {
    await start();
    const first = await launch({ MaxCount: 2, ClientToken: "batch-1" });
    const again = await launch({ MaxCount: 2, ClientToken: "batch-1" });
    expect(again).toEqual(first);
    expect(sim.stats().instancesLaunched).toBe(2);
  });
});

describe("with tags in IMDS enabled, tag keys hold only letters, digits and + - = . , _ : @ (EC2 instance metadata docs)", () => {
  it("refuses a launch whose tag key has a space or a slash", async () => {
    await start();
    for (const Key of ["Arvados Owner", "arvados/owner", "_index"]) {
      const tags = [{ ResourceType: "instance" as const, Tags: [{ Key, Value: "x" }] }];
      expect(await errorCode(launch({ TagSpecifications: tags })), Key).toBe("InvalidParameterValue");
    }
    expect(
      await launch({
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "a+b-c=d.e,f_g:h@i", Value: "v w/x" }] }],
      }),
    ).toHaveLength(1);
  });

  it("refuses such a key in CreateTags too, and accepts it on an instance without tags in IMDS", async () => {
    await start();
    const [withTags = ""] = await launch();
    const [without = ""] = await launch({ MetadataOptions: { HttpTokens: "required" } });
    const tag = { Key: "Cost Centre", Value: "1" };
    expect(await errorCode(ec2.send(new CreateTagsCommand({ Resources: [withTags], Tags: [tag] })))).toBe(
      "InvalidParameterValue",
    );
    await ec2.send(new CreateTagsCommand({ Resources: [without], Tags: [tag] }));
    expect(sim.instance(without)?.tags["Cost Centre"]).toBe("1");
  });
});

describe("DeleteTags deletes a tag given with a value only while it holds that value", () => {
  it("keeps a tag whose value changed, deletes a matching one, and a key given alone whatever its value", async () => {
    await start();
    const [id = ""] = await launch();
    await ec2.send(
      new CreateTagsCommand({
        Resources: [id],
        Tags: [
          { Key: "a", Value: "run:1" },
          { Key: "b", Value: "kill:1" },
          { Key: "c", Value: "x" },
        ],
      }),
    );
    await ec2.send(
      new DeleteTagsCommand({
        Resources: [id],
        Tags: [{ Key: "a", Value: "run:1" }, { Key: "b", Value: "run:1" }, { Key: "c" }],
      }),
    );
    expect(sim.instance(id)?.tags).toEqual({ ArvadosInstanceSetID: "zzzzz-gj3su-000000000000000", b: "kill:1" });
  });
});

describe("IMDS serves each running instance its own metadata, with IMDSv2 session tokens", () => {
  it("serves instance id, launch index, private address, type and user data", async () => {
    await start();
    const ids = await launch({ MaxCount: 2 });
    const second = ids[1] ?? "";
    const token = await sessionToken(second);
    const i = sim.instance(second);
    expect(await get(second, "meta-data/instance-id", token)).toEqual({ status: 200, body: second });
    expect(await get(second, "meta-data/ami-launch-index", token)).toEqual({ status: 200, body: "1" });
    expect(await get(second, "meta-data/local-ipv4", token)).toEqual({ status: 200, body: i?.privateIp });
    expect(await get(second, "meta-data/instance-type", token)).toEqual({ status: 200, body: "m5.large" });
    expect(await get(second, "user-data", token)).toEqual({ status: 200, body: "#!/bin/sh\n#arvados-run 0 x\n" });
  });

  it("answers 401 without a token when tokens are required, for another instance's token, and after the TTL", async () => {
    await start();
    const [a = "", b = ""] = await launch({ MaxCount: 2 });
    expect((await get(a, "meta-data/instance-id")).status).toBe(401);
    const tokenB = await sessionToken(b, 10);
    expect((await get(a, "meta-data/instance-id", tokenB)).status).toBe(401);
    expect((await get(b, "meta-data/instance-id", tokenB)).status).toBe(200);
    wallClock += 10_000;
    expect((await get(b, "meta-data/instance-id", tokenB)).status).toBe(401);
  });

  it("refuses a token request without a TTL between 1 and 21600 s", async () => {
    await start();
    const [id = ""] = await launch();
    for (const ttl of [undefined, "0", "21601", "x"]) {
      const r = await fetch(`${imds.endpointFor(id)}/latest/api/token`, {
        method: "PUT",
        headers: ttl === undefined ? {} : { "X-aws-ec2-metadata-token-ttl-seconds": ttl },
      });
      expect(r.status, String(ttl)).toBe(400);
    }
  });

  it("serves IMDSv1 (no token) only to an instance whose tokens are optional", async () => {
    await start();
    const [id = ""] = await launch({ MetadataOptions: { HttpTokens: "optional" } });
    expect(await get(id, "meta-data/instance-id")).toEqual({ status: 200, body: id });
  });

  it("does not answer for an instance that is not running", async () => {
    await start();
    const [id = ""] = await launch();
    const token = await sessionToken(id);
    sim.shutdownFromInstance(id);
    expect((await get(id, "meta-data/instance-id", token)).status).toBe(404);
  });
});

describe("IMDS serves an instance's tags when its metadata options enable them, as they are now", () => {
  it("lists the keys one a line and serves each value, reflecting CreateTags and DeleteTags at once", async () => {
    await start();
    const [id = ""] = await launch();
    const token = await sessionToken(id);
    await ec2.send(
      new CreateTagsCommand({
        Resources: [id],
        Tags: [{ Key: "ArvadosContainer:zzzzz-dz642-000000000000001", Value: "run:1" }],
      }),
    );
    expect((await get(id, "meta-data/tags/instance", token)).body.split("\n")).toEqual([
      "ArvadosInstanceSetID",
      "ArvadosContainer:zzzzz-dz642-000000000000001",
    ]);
    expect(await get(id, "meta-data/tags/instance/ArvadosContainer:zzzzz-dz642-000000000000001", token)).toEqual({
      status: 200,
      body: "run:1",
    });
    await ec2.send(
      new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: "ArvadosContainer:zzzzz-dz642-000000000000001" }] }),
    );
    expect((await get(id, "meta-data/tags/instance/ArvadosContainer:zzzzz-dz642-000000000000001", token)).status).toBe(
      404,
    );
    expect((await get(id, "meta-data/tags/instance", token)).body).toBe("ArvadosInstanceSetID");
  });

  it("answers 404 under tags/instance when tags in IMDS are not enabled", async () => {
    await start();
    const [id = ""] = await launch({ MetadataOptions: { HttpTokens: "required" } });
    const token = await sessionToken(id);
    expect((await get(id, "meta-data/tags/instance", token)).status).toBe(404);
    expect((await get(id, "meta-data/tags/instance/ArvadosInstanceSetID", token)).status).toBe(404);
  });
});
