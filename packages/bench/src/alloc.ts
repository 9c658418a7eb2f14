/**
 * What an agent run allocates, garbage included: the scale case's 3-step
 * runs (tool call, tool call, answer) one after the other on the minimal
 * model double answering at once, in passes of `runs` alternating with the
 * bare loop's (bareLoop.ts) on the same double. Each pass runs in a young
 * generation large enough that no collection happens during it (the process
 * must start with `--max-semi-space-size=512 --min-semi-space-size=512`), so
 * the heap's growth over the pass is every byte it allocated; a pass that saw
 * a collection is left out. Prints the median per run of each side.
 *
 *     npx node --expose-gc --max-semi-space-size=512 --min-semi-space-size=512 \
 *       --conditions=@effect-harness/source packages/bench/src/alloc.ts [runs=5000] [passes=9]
 *
 * At scale, the garbage collector's work grows with what the runs allocate
 * (each scavenge copies what the runs in flight still hold), so this is the
 * figure to read for a change to the loop's allocations; the CPU it saves is
 * read with `cpu.ts scale`.
 */
import { Effect } from "effect"
import { PerformanceObserver } from "node:perf_hooks"
import { median } from "./measure.ts"
import * as Sequential from "./sequential.ts"

const runs = Number(process.argv[2] ?? 5_000)
const passes = Number(process.argv[3] ?? 9)
const steps = 3
const { agentRuns, bareRuns } = Sequential.make(steps)

let collections = 0
new PerformanceObserver((list) => {
  collections += list.getEntries().length
}).observe({ entryTypes: ["gc"] })
// (the observer hears of a collection after it: a tick before and after each pass)
const tick = () => new Promise((resolve) => setTimeout(resolve, 10))

// bytes per run allocated by a pass, or undefined when a collection happened during it
const pass = async (side: (n: number) => Effect.Effect<void, unknown>): Promise<number | undefined> => {
  globalThis.gc!()
  await tick()
  const seen = collections
  const before = process.memoryUsage().heapUsed
  await Effect.runPromise(side(runs))
  const after = process.memoryUsage().heapUsed
  await tick()
  return collections === seen ? (after - before) / runs : undefined
}

if (globalThis.gc === undefined) throw new Error("alloc.ts needs --expose-gc")
// warm-up: the JIT, the toolkit's handlers, the Schemas' compiled codecs
for (let i = 0; i < 10; i++) {
  await Effect.runPromise(agentRuns(2_000))
  await Effect.runPromise(bareRuns(2_000))
}
const agentBytes: Array<number> = []
const bareBytes: Array<number> = []
for (let i = 0; i < passes; i++) {
  const a = await pass(agentRuns), b = await pass(bareRuns)
  if (a !== undefined) agentBytes.push(a)
  if (b !== undefined) bareBytes.push(b)
}
if (agentBytes.length === 0 || bareBytes.length === 0) {
  throw new Error("every pass saw a garbage collection: start node with --max-semi-space-size=512 --min-semi-space-size=512")
}
const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`
console.log(
  `alloc: ${runs} runs of ${steps} steps one after the other, median of ${agentBytes.length} and ${bareBytes.length} passes ` +
    `without a collection: the agent allocates ${kb(median(agentBytes))} per run, the bare loop ${kb(median(bareBytes))}`
)
process.exit(0)
