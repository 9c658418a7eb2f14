/**
 * The crash test of a `RunStore`: runs the durable agent of `DurableShop` in
 * child processes on the store and kills them with SIGKILL, right after each
 * of the first journal writes and at random moments, then resumes every run
 * to completion and checks it against an uninterrupted run:
 * - same answer, same usage, same history (except that a charge whose kill
 *   fell between its "started" entry and its result is reported to the model
 *   as having an unknown outcome);
 * - every charge (not idempotent) happened at most once, and exactly once when
 *   its result was recorded; every note (idempotent) at least once.
 *
 * The children build the store from a module of yours (its path and JSON
 * options in {@link Options.store}), since a layer cannot cross a process
 * boundary. `CRASH_SEED` replays the random kills of a failed run. It uses
 * `@effect/vitest`'s `assert`, so it is a module of its own
 * (`@effect-harness/testing/CrashDriver`), not part of the package's main
 * entry.
 *
 * @example
 * ```ts
 * // fileStore.ts, next to the test:
 * //   export const layer = (options: { directory: string }) =>
 * //     RunStore.layerFileSystem(options).pipe(Layer.provide(NodeFileSystem.layer))
 * import * as CrashDriver from "@effect-harness/testing/CrashDriver"
 *
 * // the body of a test (give it minutes: it starts about 120 processes)
 * const crashTest = async () => {
 *   const report = await CrashDriver.run({
 *     name: "files",
 *     store: { module: new URL("./fileStore.ts", import.meta.url).href, options: { directory: "/tmp/runs" } },
 *     firstWrites: 16,
 *     randomKills: 28,
 *     concurrency: 3
 *   })
 *   CrashDriver.print(report)
 *   CrashDriver.assertReport(report)
 * }
 * ```
 *
 * @since 0.1.0
 */
import { assert } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Shop from "./DurableShop.ts"
import type { ChildConfig, StoreModule } from "./internal/crashChild.ts"

// the child next to this module: its source under the source condition, its build output otherwise
const childPath = fileURLToPath(
  new URL(`./internal/crashChild${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)
)

interface ChildResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly outcome: Shop.Outcome | undefined
  readonly stderr: string
  /** From `ready` to exit, in ms. */
  readonly runMs: number
}

const runChild = (compileCache: string, config: ChildConfig, killAtMs?: number): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@effect-harness/source", childPath, JSON.stringify(config)], {
      env: { ...process.env, NODE_COMPILE_CACHE: compileCache },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let readyAt = 0
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      const wasReady = stdout.includes("ready\n")
      stdout += chunk
      if (!wasReady && stdout.includes("ready\n")) {
        readyAt = performance.now()
        if (killAtMs !== undefined) setTimeout(() => child.kill("SIGKILL"), killAtMs)
      }
    })
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("error", reject)
    child.on("close", (code, signal) => {
      const line = stdout.split("\n").find((l) => l.startsWith("{"))
      resolve({
        code,
        signal,
        outcome: line === undefined ? undefined : (JSON.parse(line) as { outcome: Shop.Outcome }).outcome,
        stderr,
        runMs: readyAt === 0 ? 0 : performance.now() - readyAt
      })
    })
  })

/** A seeded PRNG (mulberry32), so a failing run can be replayed with CRASH_SEED. */
const prng = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Kill = { readonly afterWrites: number } | { readonly atMs: number }

/**
 * What to crash, how often, and how many children at once.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The store's name, in the report. */
  readonly name: string
  /**
   * The module that builds the store in each child: it exports
   * `layer(options): Layer<RunStore>`, called with `options` (JSON).
   */
  readonly store: StoreModule
  /** Kill after each of the first `firstWrites` journal writes (each scenario also gets a second kill). */
  readonly firstWrites: number
  /** Scenarios killed at a random moment. */
  readonly randomKills: number
  readonly concurrency: number
  /** Latency of each model and tool call in the children, in ms. Default 2. */
  readonly latencyMs?: number | undefined
}

/**
 * What the crash test saw: the kills, the resumed runs, the side effects, and
 * every failure (empty when the store is correct).
 *
 * @since 0.1.0
 */
export interface Report {
  readonly store: string
  readonly seed: number
  /** How long the uninterrupted run took, from `ready` to exit (random kills fall in the first 80%). */
  readonly runMs: number
  readonly runs: number
  readonly processes: number
  readonly kills: number
  readonly killsAfterWrite: number
  readonly killsAtRandom: number
  readonly finishedBeforeRandomKill: number
  readonly identicalHistory: number
  readonly chargeOutcomeUnknown: { readonly charged: number; readonly notCharged: number }
  readonly chargesTwice: number
  readonly notesRerun: number
  readonly failures: ReadonlyArray<string>
  readonly seconds: number
}

const toolResultParts = (history: unknown): Array<{ id: string; name: string; unknown: boolean }> => {
  const parts: Array<{ id: string; name: string; unknown: boolean }> = []
  for (const message of history as Array<{ role: string; content: Array<any> }>) {
    if (message.role !== "tool") continue
    for (const part of message.content) {
      if (part.type === "tool-result") {
        parts.push({ id: part.id, name: part.name, unknown: JSON.stringify(part).includes("UnknownOutcome") })
      }
    }
  }
  return parts
}

// The history with every unknown-outcome result replaced by the baseline's
// result for the same call, to compare the rest exactly.
const withBaselineResults = (history: unknown, baseline: unknown): unknown => {
  const baselineResults = new Map<string, unknown>()
  for (const message of baseline as Array<{ role: string; content: Array<any> }>) {
    if (message.role === "tool") for (const part of message.content) baselineResults.set(part.id, part)
  }
  return (history as Array<{ role: string; content: Array<any> }>).map((message) =>
    message.role !== "tool" ? message : {
      ...message,
      content: message.content.map((part) =>
        JSON.stringify(part).includes("UnknownOutcome") ? baselineResults.get(part.id) : part
      )
    }
  )
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Runs the crash test: an uninterrupted run, then runs killed after each of
 * the first `firstWrites` journal writes and at `randomKills` random moments,
 * each resumed to completion and compared with the uninterrupted one.
 *
 * @since 0.1.0
 */
export const run = async (options: Options): Promise<Report> => {
  const started = performance.now()
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000)
  const random = prng(seed)
  const work = mkdtempSync(join(tmpdir(), `crash-${options.name}-`))
  const sideEffects = join(work, "side-effects.log")
  // compiled once, loaded from the cache by the hundred children that follow
  const compileCache = join(work, "compile-cache")
  const prefix = `crash-${Date.now().toString(36)}`
  const latencyMs = options.latencyMs ?? 2
  const config = (runId: string, killAfterWrites?: number): ChildConfig => ({
    runId,
    store: options.store,
    sideEffects,
    latencyMs,
    ...(killAfterWrites === undefined ? {} : { killAfterWrites })
  })
  const failures: Array<string> = []
  let processes = 0

  const baselineRun = await runChild(compileCache, config(`${prefix}-baseline`))
  processes++
  if (baselineRun.outcome === undefined) throw new Error(`the uninterrupted run failed: ${baselineRun.stderr}`)
  const baseline = baselineRun.outcome
  const runMs = Math.max(20, baselineRun.runMs)

  const scenarios: Array<{ readonly runId: string; readonly kills: ReadonlyArray<Kill> }> = []
  for (let k = 1; k <= options.firstWrites; k++) {
    // after write k, then (in the resumed process) after 1 to 5 more writes
    scenarios.push({ runId: `${prefix}-w${k}`, kills: [{ afterWrites: k }, { afterWrites: 1 + ((k * 7) % 5) }] })
  }
  let randomScenarios = 0
  const randomScenario = (range: number) => ({
    runId: `${prefix}-r${randomScenarios++}`,
    kills: [{ atMs: Math.round(random() * range) }]
  })
  for (let i = 0; i < options.randomKills; i++) scenarios.push(randomScenario(runMs * 0.8))

  let kills = 0
  let killsAfterWrite = 0
  let killsAtRandom = 0
  let finishedBeforeRandomKill = 0
  let identicalHistory = 0
  let chargesTwice = 0
  let notesRerun = 0
  const unknown = { charged: 0, notCharged: 0 }
  const finals = new Map<string, Shop.Outcome>()

  const queue = scenarios.slice()
  const runScenario = async (scenario: (typeof scenarios)[number]) => {
    for (const kill of scenario.kills) {
      const result = "afterWrites" in kill
        ? await runChild(compileCache, config(scenario.runId, kill.afterWrites))
        : await runChild(compileCache, config(scenario.runId), kill.atMs)
      processes++
      if (result.signal === "SIGKILL") {
        kills++
        if ("afterWrites" in kill) killsAfterWrite++
        else killsAtRandom++
      } else if (result.code === 0 && "atMs" in kill) {
        // the run finished first: it is checked like the others, and another
        // run (killed sooner) takes its place, so the kill count is reached
        finishedBeforeRandomKill++
        if (randomScenarios < options.randomKills * 3) queue.push(randomScenario(kill.atMs * 0.8))
      } else if (result.code !== 0) {
        failures.push(`${scenario.runId}: a killed-run process failed (${result.code}): ${result.stderr.slice(0, 500)}`)
      }
    }
    const final = await runChild(compileCache, config(scenario.runId))
    processes++
    if (final.outcome === undefined) {
      failures.push(`${scenario.runId}: the resumed run failed (${final.code} ${final.signal}): ${final.stderr.slice(0, 500)}`)
      return
    }
    finals.set(scenario.runId, final.outcome)
  }

  await Promise.all(Array.from({ length: options.concurrency }, async () => {
    for (let scenario = queue.shift(); scenario !== undefined; scenario = queue.shift()) await runScenario(scenario)
  }))

  // side effects per run and call
  const effects = new Map<string, Map<string, number>>()
  for (const line of readFileSync(sideEffects, "utf8").split("\n")) {
    if (line.length === 0) continue
    const [runId, , ref] = line.split(" ")
    const counts = effects.get(runId!) ?? new Map<string, number>()
    counts.set(ref!, (counts.get(ref!) ?? 0) + 1)
    effects.set(runId!, counts)
  }
  const baselineCounts = effects.get(`${prefix}-baseline`)
  for (const ref of Object.keys(Shop.calls)) {
    if (baselineCounts?.get(ref) !== 1) failures.push(`baseline: ${ref} ran ${baselineCounts?.get(ref) ?? 0} times`)
  }

  for (const [runId, outcome] of finals) {
    if (outcome.output !== baseline.output) failures.push(`${runId}: answer ${outcome.output}`)
    if (!same(outcome.usage, baseline.usage)) failures.push(`${runId}: usage ${JSON.stringify(outcome.usage)}`)
    if (!same(outcome.budget, baseline.budget)) failures.push(`${runId}: budget ${JSON.stringify(outcome.budget)}`)
    const unknownIds = new Set(toolResultParts(outcome.history).filter((part) => part.unknown).map((part) => part.id))
    if (unknownIds.size === 0) {
      if (same(outcome.history, baseline.history)) identicalHistory++
      else failures.push(`${runId}: the history differs from the uninterrupted run`)
    } else if (!same(withBaselineResults(outcome.history, baseline.history), baseline.history)) {
      failures.push(`${runId}: the history differs from the uninterrupted run beyond the unknown outcomes`)
    }
    const counts = effects.get(runId) ?? new Map<string, number>()
    for (const [ref, tool] of Object.entries(Shop.calls)) {
      const n = counts.get(ref) ?? 0
      if (tool === "note") {
        if (n < 1) failures.push(`${runId}: note ${ref} never ran`)
        if (n > 1) notesRerun++
      } else if (n > 1) {
        chargesTwice++
        failures.push(`${runId}: charge ${ref} ran ${n} times`)
      } else if (unknownIds.has(ref)) {
        if (n === 1) unknown.charged++
        else unknown.notCharged++
      } else if (n !== 1) {
        failures.push(`${runId}: charge ${ref} has a recorded result but ran ${n} times`)
      }
    }
    for (const id of unknownIds) if (Shop.calls[id as keyof typeof Shop.calls] !== "charge") failures.push(`${runId}: ${id} unknown`)
  }

  rmSync(work, { recursive: true, force: true })
  return {
    store: options.name,
    seed,
    runMs: Math.round(runMs),
    runs: scenarios.length + randomScenarios - options.randomKills,
    processes,
    kills,
    killsAfterWrite,
    killsAtRandom,
    finishedBeforeRandomKill,
    identicalHistory,
    chargeOutcomeUnknown: unknown,
    chargesTwice,
    notesRerun,
    failures,
    seconds: Math.round((performance.now() - started) / 100) / 10
  }
}

/**
 * Prints the report: what was killed, what resumed, what ran twice.
 *
 * @since 0.1.0
 */
export const print = (report: Report) =>
  console.log(
    [
      `crash test [${report.store}] seed=${report.seed}: ${report.runs} runs, ${report.processes} processes, ${report.seconds} s ` +
      `(an uninterrupted run: ${report.runMs} ms)`,
      `  SIGKILLs: ${report.kills} (${report.killsAfterWrite} right after a journal write, ${report.killsAtRandom} at random moments; ` +
      `${report.finishedBeforeRandomKill} runs finished before their random kill)`,
      `  resumed to completion: ${report.runs - report.failures.length} of ${report.runs}; same answer, usage and budget (cost) as the uninterrupted run: all; ` +
      `identical history: ${report.identicalHistory}`,
      `  charge (not idempotent): never twice (${report.chargesTwice}); exactly once when its result was recorded; ` +
      `killed between its start and its result: ${report.chargeOutcomeUnknown.charged + report.chargeOutcomeUnknown.notCharged} ` +
      `(charged ${report.chargeOutcomeUnknown.charged}, not charged ${report.chargeOutcomeUnknown.notCharged}; the model was told the outcome is unknown)`,
      `  note (idempotent): at least once; run again after a kill in ${report.notesRerun} calls`,
      ...report.failures.map((failure) => `  FAILURE ${failure}`)
    ].join("\n")
  )

/**
 * What every crash test must show, whatever the store: no failure, at least
 * 50 kills (16 right after a write, 10 at random moments), no charge twice.
 *
 * @since 0.1.0
 */
export const assertReport = (report: Report) => {
  assert.deepStrictEqual(report.failures, [])
  assert.isAtLeast(report.kills, 50)
  assert.isAtLeast(report.killsAfterWrite, 16)
  assert.isAtLeast(report.killsAtRandom, 10)
  assert.strictEqual(report.chargesTwice, 0)
}
