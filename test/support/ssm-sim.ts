import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SSMClient } from "@aws-sdk/client-ssm";

/**
 * A loopback stand-in for SSM Parameter Store's GetParameter (JSON 1.1 protocol, as the AWS
 * SDK speaks it), for tests of code that reads SecureStrings through Powertools Parameters.
 */
export class SsmSim {
  readonly parameters = new Map<string, string>();
  /** How many GetParameter calls reached the server, by parameter name. */
  readonly reads = new Map<string, number>();
  #server: Server | undefined;
  #endpoint = "";

  get endpoint(): string {
    return this.#endpoint;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const target = req.headers["x-amz-target"];
        const { Name } = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { Name?: string };
        res.setHeader("Content-Type", "application/x-amz-json-1.1");
        const value = Name === undefined ? undefined : this.parameters.get(Name);
        if (target !== "AmazonSSM.GetParameter" || Name === undefined || value === undefined) {
          res.statusCode = 400;
          res.end(JSON.stringify({ __type: "ParameterNotFound", message: "" }));
          return;
        }
        this.reads.set(Name, (this.reads.get(Name) ?? 0) + 1);
        res.end(JSON.stringify({ Parameter: { Name, Type: "SecureString", Value: value, Version: 1 } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#server = server;
    this.#endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** An SSM client for this server. */
  client(): SSMClient {
    return new SSMClient({
      endpoint: this.#endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.#server === undefined ? resolve() : this.#server.close(() => resolve()),
    );
  }
}
