/**
 * The house rules, checked by `npm test` (dependency-cruiser): no import cycles, and imports run
 * one way through the layers of the README's layout table:
 *
 *   functions/  →  lib/runtime (wiring)  →  use cases  →  decisions  →  lib/model
 *                                         →  adapters   →  lib/model
 *
 * use cases: lib/queue, lib/launch, lib/cleanup, lib/dispatch-api, lib/ticks (what the functions do);
 * decisions: lib/scheduler, lib/instance-types (pure: data in, decisions out);
 * adapters: lib/store (DynamoDB), lib/arvados (the Arvados API), lib/cloud (EC2), lib/sqs (SQS);
 * lib/model: the domain types and shared ports, importing nothing of ours;
 * lib/config and lib/observability are leaves every layer may use.
 * Nothing in lib/ imports local/ (the simulators, the runner, the soak), test/ or bench/.
 */
const useCases = "^lib/(queue|launch|cleanup|dispatch-api|ticks)/";
const decisions = "^lib/(scheduler|instance-types)/";
const adapters = "^lib/(store|arvados|cloud|sqs)/";

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "Files that import each other in a loop cannot be understood, tested or moved one at a time.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "model-is-a-leaf",
      comment: "lib/model holds the domain types and ports: it imports nothing of ours.",
      severity: "error",
      from: { path: "^lib/model/" },
      to: { path: "^(lib|local|functions|test|bench|scripts)/", pathNot: "^lib/model/" },
    },
    {
      name: "config-and-observability-are-leaves",
      comment: "Every layer reads the config and logs; they depend on the model at most.",
      severity: "error",
      from: { path: "^lib/(config|observability)/" },
      to: { path: "^(lib|local|functions|test|bench|scripts)/", pathNot: "^lib/(model|config|observability)/" },
    },
    {
      name: "decisions-are-pure",
      comment: "The scheduler and type choice decide from plain data: no use case, adapter or wiring.",
      severity: "error",
      from: { path: decisions },
      to: { path: "^(lib|local|functions)/", pathNot: "^lib/(model|config|observability|scheduler|instance-types)/" },
    },
    {
      name: "use-cases-depend-on-ports",
      comment: "Use cases reach the table, Arvados and EC2 through ports (lib/model, their own ports.ts); the handler wires the adapters.",
      severity: "error",
      from: { path: useCases },
      to: { path: `${adapters}|^lib/runtime/|^functions/` },
    },
    {
      name: "ports-name-only-the-model",
      comment: "A ports.ts is a leaf as the model is: the interfaces a use case needs, in domain types.",
      severity: "error",
      from: { path: "^lib/[^/]+/ports\\.ts$" },
      to: { path: "^(lib|local|functions)/", pathNot: "^lib/(model|config)/|^lib/[^/]+/ports\\.ts$|^lib/queue/assign-types\\.ts$" },
    },
    {
      name: "adapters-serve-not-decide",
      comment: "Adapters implement ports; they never call a use case, a decision or the wiring.",
      severity: "error",
      from: { path: adapters },
      to: { path: `${useCases}|${decisions}|^lib/runtime/|^functions/` },
    },
    {
      name: "functions-are-thin",
      comment: "Handlers call the wiring and the use cases; adapters are built in lib/runtime.",
      severity: "error",
      from: { path: "^functions/" },
      to: { path: adapters },
    },
    {
      name: "lib-never-imports-dev-code",
      comment: "local/ (simulators, runner, soak), test/ and bench/ never reach a Lambda bundle.",
      severity: "error",
      from: { path: "^(lib|functions)/" },
      to: { path: "^(local|test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist|\\.local)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "local/tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"], conditionNames: ["import", "require", "node", "default"] },
  },
};
