/**
 * Section 2, scale: 10,000 concurrent agent runs of 3 steps each (tool call,
 * tool call, answer), against a `TestModel` that answers every request after
 * 20 ms of real time, so one run ideally takes 60 ms however many run at once.
 *
 * Measured in a child process (a clean heap and its own peak RSS):
 * - wall time of all runs (vs the ideal 60 ms), and the peak RSS;
 * - memory per run: the heap of all runs parked at their last model call
 *   (after a full GC), minus the heap before they started, divided by the runs.
 */
import { Agent } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Deferred, Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { collect, format } from "./measure.ts"
import { type Report } from "./report.ts"

const stepMs = 20
const steps = 3
const idealMs = stepMs * steps

interface ScaleResult {
  readonly runs: number
  readonly wallMs: number
  readonly peakRssMb: number
  readonly heapPerRunKb: number
  /** The same runs as a hand-written async loop (no Effect, no harness): the floor. */
  readonly plainWallMs: number
  readonly plainHeapPerRunKb: number
  /** Effect fibers that only sleep 3 x 20 ms: the floor of anything built on effect fibers. */
  readonly fibersWallMs: number
}

const Lookup = Tool.make("lookup", {
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Schema.Struct({ orderId: Schema.String, status: Schema.String })
})
const Kit = Toolkit.make(Lookup)
const Handlers = Kit.toLayer({ lookup: ({ orderId }) => Effect.succeed({ orderId, status: "shipped" }) })
const agent = Agent.make({ name: "scale", toolkit: Kit, maxSteps: steps + 1 })
const usage = { inputTokens: 100, outputTokens: 20 }

const toolResults = (request: TestModel.Request) => {
  let count = 0
  for (const message of request.prompt.content) if (message.role === "tool") count++
  return count
}

const answer = (request: TestModel.Request): TestModel.Reply => {
  const done = toolResults(request)
  return done < steps - 1
    ? TestModel.toolCalls([{ name: "lookup", params: { orderId: `A-${done}` } }], { usage })
    : TestModel.text("All orders shipped.", { usage })
}

/** A model whose every answer takes 20 ms; `park` holds last steps until it opens. */
const model = (runs: number, park?: { readonly gate: Deferred.Deferred<void>; readonly arrived: () => void }) => {
  const reply = TestModel.respond((request) => {
    if (park !== undefined && toolResults(request) === steps - 1) {
      park.arrived()
      return Effect.as(Deferred.await(park.gate), answer(request))
    }
    return Effect.as(Effect.sleep(stepMs), answer(request))
  })
  return Layer.mergeAll(TestModel.layer(Array.from({ length: runs * steps }, () => reply)), Handlers)
}

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

const measurePlain = async (runs: number) => {
  await Promise.all(Array.from({ length: 1_000 }, () => plainRun()))
  collect()
  const start = performance.now()
  await Promise.all(Array.from({ length: runs }, () => plainRun()))
  const wallMs = performance.now() - start
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
// the TestModel of the runs does).
const sleepers = (runs: number) =>
  Effect.forEach(Array.from({ length: runs }), () =>
    Effect.gen(function*() {
      for (let step = 0; step < steps; step++) yield* Effect.sleep(stepMs)
    }), { concurrency: "unbounded", discard: true })

const measureFibers = async (runs: number) => {
  await Effect.runPromise(sleepers(1_000))
  collect()
  const start = performance.now()
  await Effect.runPromise(sleepers(runs))
  return performance.now() - start
}

const measureChild = async (runs: number): Promise<ScaleResult> => {
  // warm-up (JIT), then the timed pass
  await Effect.runPromise(Effect.provide(runAll(1_000), model(1_000)))
  collect()
  const timedLayer = model(runs)
  const start = performance.now()
  await Effect.runPromise(Effect.provide(runAll(runs), timedLayer))
  const wallMs = performance.now() - start
  const peakRssMb = process.resourceUsage().maxRSS / 1024

  // memory: every run parked at its last model call
  const gate = Deferred.makeUnsafe<void>()
  let arrived = 0
  let allParked!: () => void
  const parked = new Promise<void>((resolve) => (allParked = resolve))
  const layer = model(runs, { gate, arrived: () => ++arrived === runs && allParked() })
  collect()
  const before = process.memoryUsage().heapUsed
  const done = Effect.runPromise(Effect.provide(runAll(runs), layer))
  await parked
  collect()
  const during = process.memoryUsage().heapUsed
  Effect.runSync(Deferred.succeed(gate, undefined))
  await done
  const heapPerRunKb = (during - before) / runs / 1024
  // the hand-written floor, after the Effect runs (the peak RSS above is theirs)
  return { runs, wallMs, peakRssMb, heapPerRunKb, ...(await measurePlain(runs)), fibersWallMs: await measureFibers(runs) }
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
  const within = result.wallMs / idealMs
  report.print("== 2. Scale ==")
  report.print()
  report.print(
    `${format(result.runs)} concurrent Agent runs, ${steps} steps each, TestModel answering after ${stepMs} ms (ideal ${idealMs} ms)`
  )
  report.add({
    section,
    metric: `wall time of ${result.runs} concurrent runs`,
    side: "effect-harness Agent",
    value: result.wallMs,
    unit: "ms",
    ratio: within,
    target: "ratio to the ideal 60 ms <= 2",
    met: within <= 2
  })
  report.add({ section, metric: "peak RSS", side: "effect-harness Agent", value: result.peakRssMb, unit: "MB" })
  report.add({
    section,
    metric: "heap per in-flight run",
    side: "effect-harness Agent",
    value: result.heapPerRunKb,
    unit: "KB",
    target: "< 20 KB",
    met: result.heapPerRunKb < 20
  })
  report.add({ section, metric: `wall time of ${result.runs} concurrent runs`, side: "hand-written async loop", value: result.plainWallMs, unit: "ms", ratio: result.plainWallMs / idealMs })
  report.add({ section, metric: "heap per in-flight run", side: "hand-written async loop", value: result.plainHeapPerRunKb, unit: "KB" })
  report.add({
    section,
    metric: `wall time of ${result.runs} concurrent runs`,
    side: "effect fibers that only sleep 3 x 20 ms",
    value: result.fibersWallMs,
    unit: "ms",
    ratio: result.fibersWallMs / idealMs
  })
  report.table(["figure", "effect-harness Agent", "vs ideal", "target", "hand-written loop", "vs ideal", "sleeping fibers", "vs ideal"], [
    [
      "wall time",
      `${format(result.wallMs)} ms`,
      `${format(within, 2)}x`,
      `<=2x ${within <= 2 ? "met" : "MISSED"}`,
      `${format(result.plainWallMs)} ms`,
      `${format(result.plainWallMs / idealMs, 2)}x`,
      `${format(result.fibersWallMs)} ms`,
      `${format(result.fibersWallMs / idealMs, 2)}x`
    ],
    ["peak RSS", `${format(result.peakRssMb)} MB`, "", "", "", "", "", ""],
    [
      "heap per in-flight run",
      `${format(result.heapPerRunKb, 1)} KB`,
      "",
      `<20 KB ${result.heapPerRunKb < 20 ? "met" : "MISSED"}`,
      `${format(result.plainHeapPerRunKb, 1)} KB`,
      "",
      "",
      ""
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
