/**
 * Section 2, scale: 10,000 concurrent agent runs of 3 steps each (tool call,
 * tool call, answer), against the minimal model double (./minimalModel.ts: a
 * `LanguageModel` with a `DirectModel` fast path that answers every request
 * after 20 ms of real time and records nothing), so one run ideally takes
 * 60 ms however many run at once.
 *
 * Measured in a child process (a clean heap and its own peak RSS), each pass
 * after an untimed one of the same size (the steady state of a process that
 * runs agents: the heap grown to hold them, the JIT warm):
 * - wall time and CPU time (user + system) of all runs, run from effect
 *   (`Effect.forEach`) and, as the README's integration example does, through
 *   a `ManagedRuntime` (`runtime.runPromise` per run); the peak RSS; and the
 *   first pass of all, in the fresh process, as it is (no target);
 * - the double alone (the same 3 calls per fiber, nothing else), so that the
 *   agent's share of the CPU is reported on its own;
 * - the floors: 10,000 effect fibers that only sleep the 3 x 20 ms, and the
 *   same runs hand-written with promises;
 * - memory per run: the heap of all runs parked at their last model call
 *   (after a full GC), minus the heap before they started, divided by the runs;
 *   the agent's and the bare loop's.
 */
import { Agent } from "@effect-harness/core"
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Deferred, Effect, Layer, ManagedRuntime } from "effect"
import type { LanguageModel, Prompt } from "effect/ai"
import * as BareLoop from "./bareLoop.ts"
import { collect, format } from "./measure.ts"
import * as MinimalModel from "./minimalModel.ts"
import { type Report } from "./report.ts"

const stepMs = 20
const steps = 3
const idealMs = stepMs * steps

interface ScaleResult {
  readonly runs: number
  readonly wallMs: number
  /** CPU (user + system) of all runs, per run. */
  readonly cpuPerRunUs: number
  /** The first pass of the runs in the fresh process (the heap growing to hold them, the JIT warming up). */
  readonly coldWallMs: number
  readonly coldCpuPerRunUs: number
  /** The same runs, each through `ManagedRuntime.runPromise`. */
  readonly runtimeWallMs: number
  readonly runtimeCpuPerRunUs: number
  /** The least an effect agent loop does (see bareLoop.ts), on the same double. */
  readonly bareWallMs: number
  readonly bareCpuPerRunUs: number
  /** The model double alone: its 3 calls per fiber, nothing else. */
  readonly doubleWallMs: number
  readonly doubleCpuPerRunUs: number
  readonly fibersCpuPerRunUs: number
  readonly peakRssMb: number
  readonly heapPerRunKb: number
  /** The bare loop's runs parked the same way: what the least effect agent loop holds. */
  readonly bareHeapPerRunKb: number
  /** The same runs as a hand-written async loop (no Effect, no harness): the floor. */
  readonly plainWallMs: number
  readonly plainHeapPerRunKb: number
  /** Effect fibers that only sleep 3 x 20 ms: the floor of anything built on effect fibers. */
  readonly fibersWallMs: number
}

// the same tool as the bare loop's
const agent = Agent.make({ name: "scale", toolkit: BareLoop.LookupKit, maxSteps: steps + 1 })

const toolResults = (prompt: Prompt.Prompt) => {
  let count = 0
  for (const message of prompt.content) if (message.role === "tool") count++
  return count
}

/** The minimal model, every answer after 20 ms; `park` holds last steps until it opens. */
const model = (park?: { readonly gate: Deferred.Deferred<void>; readonly arrived: () => void }) =>
  Layer.mergeAll(
    MinimalModel.layer({
      delayMs: stepMs,
      toolSteps: steps - 1,
      park: park === undefined ? undefined : (request) => {
        if (toolResults(request.prompt) < steps - 1) return undefined
        park.arrived()
        return Deferred.await(park.gate)
      }
    }),
    BareLoop.LookupHandlers
  )

const runAll = (runs: number) =>
  Effect.forEach(Array.from({ length: runs }), () => Agent.run(agent, "Where are my orders?"), {
    concurrency: "unbounded",
    discard: true
  })

// The same 3-step run hand-written with promises: a model answering after
// 20 ms, a tool call per step, the history in an array.
const plainRun = async (gate?: Promise<void>, arrived?: () => void) => {
  const history: Array<unknown> = [{ role: "user", content: "Where are my orders?" }]
  for (let step = 0; step < steps; step++) {
    if (gate !== undefined && step === steps - 1) {
      arrived!()
      await gate
    } else await new Promise((resolve) => setTimeout(resolve, stepMs))
    if (step === steps - 1) {
      history.push({ role: "assistant", content: "All orders shipped." })
      return history
    }
    const call = { id: `call_${step}`, name: "lookup", params: { orderId: `A-${step}` } }
    history.push({ role: "assistant", toolCalls: [call] })
    history.push({ role: "tool", id: call.id, content: JSON.stringify({ orderId: call.params.orderId, status: "shipped" }) })
  }
  return history
}

const cpuUs = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

// wall time (ms) and CPU per run (µs) of a batch of runs
const timed = async (runs: number, f: () => Promise<unknown>) => {
  collect()
  const start = performance.now()
  const cpu = cpuUs()
  await f()
  return { wallMs: performance.now() - start, cpuPerRunUs: (cpuUs() - cpu) / runs }
}

// A pass of the same size first, untimed: each timed pass is a steady
// state, after the heap has grown to hold `runs` runs and the JIT has seen
// them (the agent's first pass in the fresh process, `coldWallMs`, costs two
// to three times its steady one: every side would pay that, coming first).
const steady = async (runs: number, f: () => Promise<unknown>) => {
  await f()
  return timed(runs, f)
}

const measurePlain = async (runs: number) => {
  const { wallMs } = await steady(runs, () => Promise.all(Array.from({ length: runs }, () => plainRun())))
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  let arrived = 0
  let allParked!: () => void
  const parked = new Promise<void>((resolve) => (allParked = resolve))
  collect()
  const before = process.memoryUsage().heapUsed
  const done = Promise.all(Array.from({ length: runs }, () => plainRun(gate, () => ++arrived === runs && allParked())))
  await parked
  collect()
  const during = process.memoryUsage().heapUsed
  open()
  await done
  return { plainWallMs: wallMs, plainHeapPerRunKb: (during - before) / runs / 1024 }
}

// 10,000 fibers doing nothing but the three model waits (`Effect.sleep`, as
// the model double of the runs does).
const sleepers = (runs: number) =>
  Effect.forEach(Array.from({ length: runs }), () =>
    Effect.gen(function*() {
      for (let step = 0; step < steps; step++) yield* Effect.sleep(stepMs)
    }), { concurrency: "unbounded", discard: true })

const measureFibers = (runs: number) => steady(runs, () => Effect.runPromise(sleepers(runs)))

const bareAll = (runs: number, layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  Effect.provide(BareLoop.runs(runs, steps + 1, "unbounded"), layer)

// The heap per run of `runs` runs parked at their last model call, after a
// full GC, minus the heap before they started.
const parkedHeap = async (runs: number, all: (layer: ReturnType<typeof model>) => Effect.Effect<void, unknown>) => {
  const gate = Deferred.makeUnsafe<void>()
  let arrived = 0
  let allParked!: () => void
  const parked = new Promise<void>((resolve) => (allParked = resolve))
  const layer = model({ gate, arrived: () => ++arrived === runs && allParked() })
  collect()
  const before = process.memoryUsage().heapUsed
  const done = Effect.runPromise(all(layer))
  await parked
  collect()
  const during = process.memoryUsage().heapUsed
  Effect.runSync(Deferred.succeed(gate, undefined))
  await done
  return (during - before) / runs / 1024
}

const measureChild = async (runs: number): Promise<ScaleResult> => {
  // the timed passes, each after an untimed one of the same size (see
  // `steady`): from effect, through a ManagedRuntime, the double alone; the
  // first pass of all, in the fresh process, is reported as it is
  const timedLayer = model()
  const agentPass = () => Effect.runPromise(Effect.provide(runAll(runs), timedLayer))
  const cold = await timed(runs, agentPass)
  const agentRuns = await timed(runs, agentPass)
  const peakRssMb = process.resourceUsage().maxRSS / 1024
  const runtime = ManagedRuntime.make(model())
  const runtimeRuns = await steady(
    runs,
    () => Promise.all(Array.from({ length: runs }, () => runtime.runPromise(Agent.run(agent, "Where are my orders?"))))
  )
  await runtime.dispose()
  const double = await steady(runs, () => Effect.runPromise(MinimalModel.callsAlone(runs, steps, stepMs)))
  const bare = await steady(runs, () => Effect.runPromise(bareAll(runs, model())))

  // memory: every run parked at its last model call
  const heapPerRunKb = await parkedHeap(runs, (layer) => runAll(runs).pipe(Effect.provide(layer)))
  const bareHeapPerRunKb = await parkedHeap(runs, (layer) => bareAll(runs, layer))
  // the floors, after the Effect runs (the peak RSS above is theirs)
  const plain = await measurePlain(runs)
  const fibers = await measureFibers(runs)
  return {
    runs,
    wallMs: agentRuns.wallMs,
    cpuPerRunUs: agentRuns.cpuPerRunUs,
    coldWallMs: cold.wallMs,
    coldCpuPerRunUs: cold.cpuPerRunUs,
    runtimeWallMs: runtimeRuns.wallMs,
    runtimeCpuPerRunUs: runtimeRuns.cpuPerRunUs,
    bareWallMs: bare.wallMs,
    bareCpuPerRunUs: bare.cpuPerRunUs,
    doubleWallMs: double.wallMs,
    doubleCpuPerRunUs: double.cpuPerRunUs,
    peakRssMb,
    heapPerRunKb,
    bareHeapPerRunKb,
    ...plain,
    fibersWallMs: fibers.wallMs,
    fibersCpuPerRunUs: fibers.cpuPerRunUs
  }
}

/** Runs the measurement in a child process and reports it. */
export const runScale = async (report: Report, options: { readonly runs: number }): Promise<void> => {
  const result = await new Promise<ScaleResult>((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--measure", String(options.runs)], {
      execArgv: ["--expose-gc", "--conditions=@effect-harness/source"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("message", (message) => resolve(message as ScaleResult))
    child.once("exit", (code) => code !== 0 && reject(new Error(`scale child exited with ${code}`)))
  })
  const section = "scale"
  const floor = result.fibersWallMs
  const metric = `wall time of ${result.runs} concurrent runs`
  const cpuMetric = "CPU per run"
  const share = result.cpuPerRunUs - result.doubleCpuPerRunUs
  const runtimeShare = result.runtimeCpuPerRunUs - result.doubleCpuPerRunUs
  report.print("== 2. Scale ==")
  report.print()
  report.print(
    `${format(result.runs)} concurrent Agent runs, ${steps} steps each, a minimal model answering after ${stepMs} ms ` +
      `(ideal ${idealMs} ms; floor: effect fibers that only sleep)`
  )
  const rows: Array<Array<string>> = []
  const side = (
    name: string,
    wallMs: number | undefined,
    cpuPerRunUs: number | undefined,
    options: { readonly targeted?: boolean; readonly agentShareUs?: number } = {}
  ) => {
    const vsFloor = wallMs === undefined ? undefined : wallMs / floor
    const met = options.targeted === true && vsFloor !== undefined ? vsFloor <= 1.5 : undefined
    if (wallMs !== undefined) {
      report.add({
        section,
        metric,
        side: name,
        value: wallMs,
        unit: "ms",
        ratio: vsFloor,
        ...(met === undefined ? {} : { target: "ratio to effect fibers that only sleep <= 1.5", met })
      })
    }
    if (cpuPerRunUs !== undefined) report.add({ section, metric: cpuMetric, side: name, value: cpuPerRunUs, unit: "µs" })
    if (options.agentShareUs !== undefined) {
      report.add({ section, metric: "agent's CPU per run (minus the model double's)", side: name, value: options.agentShareUs, unit: "µs" })
    }
    rows.push([
      name,
      wallMs === undefined ? "" : `${format(wallMs)} ms`,
      wallMs === undefined ? "" : `${format(wallMs / idealMs, 2)}x`,
      vsFloor === undefined ? "" : `${format(vsFloor, 2)}x`,
      cpuPerRunUs === undefined ? "" : `${format(cpuPerRunUs)} µs`,
      options.agentShareUs === undefined ? "" : `${format(options.agentShareUs)} µs`,
      met === undefined ? "" : `<=1.5x ${met ? "met" : "MISSED"}`
    ])
  }
  side("effect-harness Agent (Effect.forEach)", result.wallMs, result.cpuPerRunUs, { targeted: true, agentShareUs: share })
  side("the same, its first pass in the fresh process (no target)", result.coldWallMs, result.coldCpuPerRunUs, {
    agentShareUs: result.coldCpuPerRunUs - result.doubleCpuPerRunUs
  })
  side("effect-harness Agent (ManagedRuntime.runPromise per run)", result.runtimeWallMs, result.runtimeCpuPerRunUs, {
    targeted: true,
    agentShareUs: runtimeShare
  })
  side("the least an effect agent loop does (bareLoop.ts)", result.bareWallMs, result.bareCpuPerRunUs, {
    agentShareUs: result.bareCpuPerRunUs - result.doubleCpuPerRunUs
  })
  side("the model double alone (3 calls per fiber)", result.doubleWallMs, result.doubleCpuPerRunUs)
  side("effect fibers that only sleep 3 x 20 ms (floor)", result.fibersWallMs, result.fibersCpuPerRunUs)
  side("hand-written async loop", result.plainWallMs, undefined)
  report.table(["side", "wall time", "vs ideal", "vs floor", "CPU/run", "agent's CPU/run", "target"], rows)
  report.add({ section, metric: "peak RSS", side: "effect-harness Agent", value: result.peakRssMb, unit: "MB" })
  report.add({
    section,
    metric: "heap per in-flight run",
    side: "effect-harness Agent",
    value: result.heapPerRunKb,
    unit: "KB",
    target: "<= 4 KB",
    met: result.heapPerRunKb <= 4
  })
  report.add({ section, metric: "heap per in-flight run", side: "bareLoop.ts", value: result.bareHeapPerRunKb, unit: "KB" })
  report.add({ section, metric: "heap per in-flight run", side: "hand-written async loop", value: result.plainHeapPerRunKb, unit: "KB" })
  report.print()
  report.table(["figure", "effect-harness Agent", "target", "bareLoop.ts", "hand-written loop"], [
    ["peak RSS", `${format(result.peakRssMb)} MB`, "", "", ""],
    [
      "heap per in-flight run",
      `${format(result.heapPerRunKb, 1)} KB`,
      `<=4 KB ${result.heapPerRunKb <= 4 ? "met" : "MISSED"}`,
      `${format(result.bareHeapPerRunKb, 1)} KB`,
      `${format(result.plainHeapPerRunKb, 1)} KB`
    ]
  ])
  report.print()
}

if (process.argv.includes("--measure")) {
  const runs = Number(process.argv[process.argv.indexOf("--measure") + 1])
  const result = await measureChild(runs)
  if (process.send === undefined) console.log(result)
  else process.send(result, () => process.exit(0))
}
