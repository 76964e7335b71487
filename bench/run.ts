/**
 * `npm run bench [-- filter]`: runs each benchmark whose name contains the filter, in turn,
 * against DynamoDB Local and the simulators on loopback, and prints a table per benchmark.
 * Figures only: nothing here asserts on time.
 */
import { type Benchmark, environmentFacts, printTable, startServices, timed } from "./harness.js";
import { cost } from "./cost.js";
import { launchRate } from "./launch-rate.js";
import { queueUpdate } from "./queue-update.js";
import { typeChoice } from "./type-choice.js";
import { workers } from "./workers.js";

const benchmarks: Benchmark[] = [queueUpdate, launchRate, typeChoice, cost, workers];

async function main(): Promise<number> {
  const filter = process.argv[2] ?? "";
  const selected = benchmarks.filter((b) => b.name.includes(filter));
  if (selected.length === 0) {
    console.error(`no benchmark matches "${filter}"; known: ${benchmarks.map((b) => b.name).join(", ")}`);
    return 2;
  }
  printTable("environment", ["fact", "value"], environmentFacts());
  const services = await startServices(selected.some((b) => b.needsDynamoDb));
  let failed = 0;
  try {
    for (const bench of selected) {
      console.log(`\n## ${bench.name}: ${bench.title}`);
      try {
        const { seconds } = await timed(() => bench.run(services));
        console.log(`\n(${bench.name} took ${seconds.toFixed(1)} s)`);
      } catch (err) {
        failed++;
        console.error(`\n${bench.name} FAILED:`, err);
      }
    }
  } finally {
    await services.stop();
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
