/**
 * A focused CPU measurement of the agent loop, for profiling and for the
 * before/after figure of each optimisation: CPU time (`process.cpuUsage`,
 * user + system), not wall time, so that it holds on a loaded machine.
 *
 *     npx node --expose-gc --conditions=@effect-harness/source packages/bench/src/cpu.ts scale
 *     npx node --expose-gc --conditions=@effect-harness/source packages/bench/src/cpu.ts loop
 *     # a profile of the same: add --cpu-prof --cpu-prof-dir=/tmp/prof before the script
 *
 * - `scale`: 10,000 concurrent 3-step agent runs on the minimal model double
 *   (20 ms per answer), minus the double alone and minus 10,000 fibers that
 *   only sleep: CPU per run and per step, median of the rounds.
 * - `seq`: the same runs one after the other, the double answering at once
 *   (no timers, little garbage alive), in blocks alternating with the bare
 *   loop's (bareLoop.ts) on the same double: the agent's own CPU per run is
 *   the median difference of the two in the same round, the steadiest figure
 *   for small changes.
 * - `loop`: the 5-step tool loop through `OpenAiLanguageModel` against the fake
 *   server in a child process, 20 runs at a time, beside the bare loop
 *   (bareLoop.ts) on the same provider and the hand-written loop on the raw
 *   SDK: CPU per run. With `--in-process`, against the same answers given by
 *   an in-process `fetch` (inProcess.ts): the SDKs' work without the network's
 *   noise.
 * - `bare`: the `scale` runs as the least any agent loop on effect's `Prompt`,
 *   `Tool` and `Schema` must do (no journal, events, budget or window): build
 *   the request from the history, call the model's fast path, decode the tool
 *   call's parameters, run the handler, encode its result, append the two
 *   messages; minus the double alone. The floor of an effect-based agent.
 * - `timeline`: where the 5-step tool loop's latency goes, per side (raw SDK,
 *   bare loop, agent): the start, the think time between a response and the
 *   next request, the round trip, and the end; medians of interleaved rounds.
 *   With `--structured`, the structured-output call's (raw SDK, the raw SDK in
 *   effect with the Schema, the same with its messages read from effect's
 *   `Prompt`, the provider's fast path alone, the harness); with
 *   `--streamed`, the streamed loop's (raw SDK, the bare loop streamed and
 *   pulled through, the same through effect's queue, `Agent.stream`), each
 *   response's body to its last chunk of data apart from its round trip.
 * - `structured`: the structured-output call (`Harness.prompt` + `retry`) the
 *   same way, beside the raw SDK and `JSON.parse`: CPU per call (`--in-process`
 *   as for `loop`).
 * - `throughput`: the structured call's sides at concurrency 64 against the
 *   server, in rotated batches: calls per second, the client's CPU per call
 *   and the server's (from `/proc`), and the client's cores in use (calls per
 *   second times CPU per call: about one when its processor is saturated).
 *   With `--profile`, one sampling profile over all batches, each sample
 *   charged to the side whose batch was running: where each side's CPU goes,
 *   per script, in µs per call.
 * - `client`: the raw SDK's structured call through each client the provider
 *   may hold, in one process: a plain `OpenAI`, the provider's own client (the
 *   `OpenAI` subclass that aborts a request without a caller signal, from
 *   `OpenAiClient.make`), and a plain `OpenAI` given a caller `AbortSignal`
 *   (what a client built elsewhere gets): what each costs a call.
 */
import { Agent } from "@effect-harness/core"
import { OpenAiClient } from "@effect-harness/openai"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import OpenAI from "openai"
import * as BareLoop from "./bareLoop.ts"
import { installFetch } from "./inProcess.ts"
import { collect, concurrently, median, rotation } from "./measure.ts"
import * as MinimalModel from "./minimalModel.ts"
import * as Sequential from "./sequential.ts"
import { startServer } from "./server.ts"
import { apiKey, effectOnRaw, harness, raw, structuredOn } from "./sides.ts"

const cpuUs = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

const timed = async (f: () => Promise<unknown>): Promise<number> => {
  collect()
  const start = cpuUs()
  await f()
  return cpuUs() - start
}

const steps = 3

const scaleAgent = (delayMs: number) => {
  const layer = Layer.mergeAll(MinimalModel.layer({ delayMs, toolSteps: steps - 1 }), BareLoop.LookupHandlers)
  return { agent: Agent.make({ name: "scale", toolkit: BareLoop.LookupKit, maxSteps: steps + 1 }), layer }
}

const bare = async (runs: number, rounds: number) => {
  const { layer } = scaleAgent(20)
  const all = (n: number) => Effect.provide(BareLoop.runs(n, steps + 1, "unbounded"), layer)
  await Effect.runPromise(all(1_000))
  await Effect.runPromise(MinimalModel.callsAlone(1_000, steps, 20))
  const bareUs: Array<number> = []
  const doubleUs: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    bareUs.push(await timed(() => Effect.runPromise(all(runs))) / runs)
    doubleUs.push(await timed(() => Effect.runPromise(MinimalModel.callsAlone(runs, steps, 20))) / runs)
  }
  const b = median(bareUs), d = median(doubleUs)
  console.log(
    `bare: ${runs} runs x ${steps} steps of the least an effect agent loop does, ${rounds} rounds: CPU per run ` +
      `${b.toFixed(1)} µs, double alone ${d.toFixed(1)} µs; the loop's share ${(b - d).toFixed(1)} µs per run`
  )
}

const seq = async (runs: number, rounds: number) => {
  // the bare loop (bareLoop.ts) on the same double, in blocks alternating with the agent's
  const { agentRuns, bareRuns } = Sequential.make(steps)
  await Effect.runPromise(agentRuns(2_000))
  await Effect.runPromise(bareRuns(2_000))
  const agentUs: Array<number> = []
  const bareUs: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const first = round % 2 === 0
    if (first) agentUs.push(await timed(() => Effect.runPromise(agentRuns(runs))) / runs)
    bareUs.push(await timed(() => Effect.runPromise(bareRuns(runs))) / runs)
    if (!first) agentUs.push(await timed(() => Effect.runPromise(agentRuns(runs))) / runs)
  }
  const a = median(agentUs)
  const paired = median(agentUs.map((us, round) => us - bareUs[round]!))
  console.log(
    `seq: ${runs} runs one after the other x ${steps} steps, ${rounds} rounds: CPU per run ${a.toFixed(1)} µs, ` +
      `the bare loop ${median(bareUs).toFixed(1)} µs; the agent's own ${paired.toFixed(1)} µs per run (paired)`
  )
  console.log(`  rounds: ${agentUs.map((x) => x.toFixed(1)).join(" ")}`)
}

const scale = async (runs: number, rounds: number) => {
  const { agent, layer } = scaleAgent(20)
  const all = (n: number) =>
    Effect.forEach(Array.from({ length: n }), () => Agent.run(agent, "Where are my orders?"), {
      concurrency: "unbounded",
      discard: true
    }).pipe(Effect.provide(layer))
  const sleepers = (n: number) =>
    Effect.forEach(Array.from({ length: n }), () =>
      Effect.gen(function*() {
        for (let step = 0; step < steps; step++) yield* Effect.sleep(20)
      }), { concurrency: "unbounded", discard: true })
  await Effect.runPromise(all(1_000))
  await Effect.runPromise(MinimalModel.callsAlone(1_000, steps, 20))
  const agentUs: Array<number> = []
  const doubleUs: Array<number> = []
  const sleepUs: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    agentUs.push(await timed(() => Effect.runPromise(all(runs))) / runs)
    doubleUs.push(await timed(() => Effect.runPromise(MinimalModel.callsAlone(runs, steps, 20))) / runs)
    sleepUs.push(await timed(() => Effect.runPromise(sleepers(runs))) / runs)
  }
  const a = median(agentUs), d = median(doubleUs), s = median(sleepUs)
  console.log(
    `scale: ${runs} runs x ${steps} steps, ${rounds} rounds: CPU per run: agent+double ${a.toFixed(1)} µs, ` +
      `double alone ${d.toFixed(1)} µs, sleeping fibers ${s.toFixed(1)} µs; ` +
      `agent's share ${(a - d).toFixed(1)} µs per run, ${((a - d) / steps).toFixed(1)} µs per step`
  )
  console.log(`  rounds (agent): ${agentUs.map((x) => x.toFixed(1)).join(" ")}`)
}

const versusRaw = async (
  which: "toolLoop" | "structured" | "client",
  blocks: number,
  perBlock: number,
  inProcess: boolean
) => {
  // (the in-process fetch first: the SDKs keep the fetch they find)
  const server = inProcess ? undefined : await startServer()
  const url = server?.url ?? await installFetch()
  const built = await harness(url)
  const rawSides = raw(url)
  const onRaw = effectOnRaw(url)
  const clientSides = async (): Promise<Record<string, () => Promise<unknown>>> => {
    const plain = new OpenAI({ apiKey, baseURL: url, maxRetries: 0, logLevel: "off" })
    const ours = await Effect.runPromise(OpenAiClient.make({ apiKey, baseURL: url }))
    return { provider: structuredOn(ours.sdk), signal: structuredOn(plain, true), raw: structuredOn(plain) }
  }
  const all: Record<string, () => Promise<unknown>> = which === "toolLoop"
    ? { agent: built.value.toolLoop, bare: built.value.bareToolLoop, raw: rawSides.toolLoop }
    : which === "client"
    ? await clientSides()
    : {
      harness: built.value.structured,
      bare: built.value.bareStructured,
      prompt: onRaw.fromPrompt,
      effect: onRaw.structured,
      raw: rawSides.structured
    }
  // (--sides=agent,raw: some of them; each alone shows what the others' presence in the process costs it)
  const chosen = process.argv.find((a) => a.startsWith("--sides="))?.slice(8).split(",")
  const sides = chosen === undefined ? all : Object.fromEntries(chosen.map((name) => [name, all[name]!]))
  const names = Object.keys(sides)
  try {
    for (let i = 0; i < 50; i++) for (const name of names) await sides[name]!()
    const perRun: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
    for (let b = 0; b < blocks; b++) {
      // (no forced collection per block: one leaves V8's young generation
      // small, and the calls after it pay for growing it again)
      for (const name of rotation(names, b)) {
        const start = cpuUs()
        for (let i = 0; i < perBlock; i++) await sides[name]!()
        perRun[name]!.push((cpuUs() - start) / perBlock)
      }
    }
    const rawUs = perRun.raw === undefined ? Number.NaN : median(perRun.raw)
    const what = which === "toolLoop"
      ? "loop: 5-step tool loop"
      : which === "client"
      ? "client: the raw SDK's structured call on each client"
      : "structured: structured-output call"
    console.log(`${what}${inProcess ? " (in-process fetch)" : ""}, ${blocks} blocks of ${perBlock}: CPU per run`)
    for (const name of names) {
      const us = median(perRun[name]!)
      // the median of the differences to the raw block of the same round:
      // steadier than the difference of medians when the machine drifts
      const paired = perRun.raw === undefined || name === "raw"
        ? undefined
        : median(perRun[name]!.map((value, round) => value - perRun.raw![round]!))
      console.log(
        `  ${name.padEnd(8)} ${us.toFixed(0).padStart(6)} µs  ${(us / rawUs).toFixed(3)}x` +
          (paired === undefined ? "" : `  added ${paired.toFixed(0)} µs (paired)`)
      )
    }
  } finally {
    await built.close()
    await server?.close()
  }
}

// Where the latency of a 5-step tool loop (or, with `structured`, of a
// structured call; with `streamed`, of the streamed loop) goes, per side, from
// the times its requests leave and their responses arrive (a fetch that notes
// them): the start (the call to the first request), the think time between a
// response and the next request, the round trip (server, network, HTTP stack:
// to the response's headers), for a streamed answer its body (the headers to
// its last chunk of data), and the end (the last response to the answer).
// Medians over interleaved rounds.
const timeline = async (rounds: number, kind: "loop" | "structured" | "streamed") => {
  const fetchOf = globalThis.fetch
  const nowUs = () => performance.now() * 1000
  let firstSent = 0, lastArrived = 0
  let thinks: Array<number> = [], trips: Array<number> = [], bodies: Array<number> = []
  // a streamed body read through, its last chunk of data noted (a side may
  // stop reading at the answer's end, before the body's own end)
  const noted = (body: ReadableStream<Uint8Array>, headers: number) => {
    const reader = body.getReader()
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read()
        if (done) return controller.close()
        lastArrived = nowUs()
        bodies[bodies.length - 1] = lastArrived - headers
        controller.enqueue(value)
      },
      cancel: (reason) => reader.cancel(reason)
    })
  }
  globalThis.fetch = (async (url: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const sent = nowUs()
    if (lastArrived === 0) firstSent = sent
    else thinks.push(sent - lastArrived)
    const response = await fetchOf(url, init)
    lastArrived = nowUs()
    trips.push(lastArrived - sent)
    if (kind !== "streamed" || response.body === null) return response
    bodies.push(0)
    const { status, statusText, headers } = response
    return new Response(noted(response.body, lastArrived), { status, statusText, headers })
  }) as typeof fetch
  const server = await startServer()
  const built = await harness(server.url)
  const rawSides = raw(server.url)
  const onRaw = effectOnRaw(server.url)
  const sides: Record<string, () => Promise<unknown>> = kind === "structured"
    ? {
      raw: rawSides.structured,
      effect: onRaw.structured,
      prompt: onRaw.fromPrompt,
      bare: built.value.bareStructured,
      harness: built.value.structured
    }
    : kind === "streamed"
    ? {
      raw: rawSides.streamedToolLoop,
      bare: built.value.bareStreamedToolLoop,
      queued: built.value.queuedStreamedToolLoop,
      agent: built.value.streamedToolLoop
    }
    : {
      raw: rawSides.toolLoop,
      bare: built.value.bareToolLoop,
      agent: built.value.toolLoop
    }
  const names = Object.keys(sides)
  const figures = Object.fromEntries(
    names.map((name) => [name, { total: [] as Array<number>, start: [] as Array<number>, think: [] as Array<number>, trip: [] as Array<number>, body: [] as Array<number>, end: [] as Array<number> }])
  )
  try {
    for (let round = 0; round < rounds + 50; round++) {
      for (const name of rotation(names, round)) {
        firstSent = lastArrived = 0
        thinks = []
        trips = []
        bodies = []
        const start = nowUs()
        await sides[name]!()
        const end = nowUs()
        if (round < 50) continue // warm-up
        const f = figures[name]!
        f.total.push(end - start)
        f.start.push(firstSent - start)
        f.think.push(...thinks)
        f.trip.push(...trips)
        f.body.push(...bodies)
        f.end.push(end - lastArrived)
      }
    }
    const title = kind === "structured" ? "structured-output call" : kind === "streamed" ? "5-step tool loop, streamed" : "5-step tool loop"
    console.log(`timeline: ${title}, ${rounds} interleaved rounds, medians in µs`)
    console.log(`  side       total  start  think/step  round trip/step${kind === "streamed" ? "  body/step" : ""}  end`)
    for (const name of names) {
      const f = figures[name]!
      const think = f.think.length === 0 ? "-" : median(f.think).toFixed(0)
      const body = kind === "streamed" ? median(f.body).toFixed(0).padStart(11) : ""
      console.log(
        `  ${name.padEnd(7)} ${median(f.total).toFixed(0).padStart(7)} ${median(f.start).toFixed(0).padStart(6)} ` +
          `${think.padStart(11)} ${median(f.trip).toFixed(0).padStart(16)}${body} ${median(f.end).toFixed(0).padStart(4)}`
      )
    }
  } finally {
    await built.close()
    await server.close()
  }
}

// The server's CPU so far in µs (user + system, from /proc: Linux only, in
// clock ticks of 10 ms, so read over many calls), NaN where unreadable.
const processCpuUs = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return Number.NaN
  }
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly url: string; readonly functionName: string }
}

// Self time per script of one side, from samples taken while its batches ran.
const selfTimeByScript = (
  profile: { nodes: ReadonlyArray<ProfileNode>; samples?: ReadonlyArray<number>; timeDeltas?: ReadonlyArray<number>; startTime: number },
  windows: ReadonlyArray<readonly [side: string, start: number, end: number]>
): Record<string, Map<string, number>> => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const bySide: Record<string, Map<string, number>> = {}
  const samples = profile.samples ?? [], deltas = profile.timeDeltas ?? []
  let time = profile.startTime
  let w = 0
  for (let i = 0; i < samples.length; i++) {
    time += deltas[i]!
    while (w < windows.length && windows[w]![2] < time) w++
    if (w === windows.length) break
    const [side, start] = windows[w]!
    if (start > time) continue
    const frame = byId.get(samples[i]!)!.callFrame
    const script = frame.url === ""
      ? `(${frame.functionName})`
      : frame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/packages\//, "packages/")
    const bucket = bySide[side] ??= new Map()
    bucket.set(script, (bucket.get(script) ?? 0) + (deltas[i + 1] ?? 0))
  }
  return bySide
}

const throughputOf = async (batches: number, perBatch: number, profiled: boolean) => {
  const concurrency = 64
  const server = await startServer()
  const built = await harness(server.url)
  const sides: Record<string, () => Promise<unknown>> = {
    raw: raw(server.url).structured,
    again: raw(server.url).structured,
    effect: effectOnRaw(server.url).structured,
    bare: built.value.bareStructured,
    harness: built.value.structured
  }
  const names = Object.keys(sides)
  const serverPid = server.child.pid ?? -1
  const hrUs = () => Number(process.hrtime.bigint() / 1000n)
  const batch = (call: () => Promise<unknown>) => concurrently(call, concurrency, perBatch)
  const figures = Object.fromEntries(names.map((name) => [name, { rates: [] as Array<number>, cpu: [] as Array<number>, server: 0 }]))
  const windows: Array<readonly [string, number, number]> = []
  const session = profiled ? new Session() : undefined
  try {
    // (as in the bench: every side serves calls one by one first)
    for (let i = 0; i < 2000; i++) for (const name of names) await sides[name]!()
    for (const name of names) await batch(sides[name]!)
    if (session !== undefined) {
      session.connect()
      await session.post("Profiler.enable")
      await session.post("Profiler.setSamplingInterval", { interval: 100 })
      await session.post("Profiler.start")
    }
    for (let b = 0; b < batches; b++) {
      for (const name of rotation(names, b)) {
        const cpuStart = cpuUs(), serverStart = processCpuUs(serverPid), start = hrUs()
        await batch(sides[name]!)
        const end = hrUs()
        const f = figures[name]!
        f.rates.push(perBatch / ((end - start) / 1e6))
        f.cpu.push((cpuUs() - cpuStart) / perBatch)
        f.server += processCpuUs(serverPid) - serverStart
        windows.push([name, start, end])
      }
    }
    const rawRate = median(figures.raw!.rates)
    console.log(`throughput: structured call at concurrency ${concurrency}, ${batches} rotated batches of ${perBatch} per side (medians)`)
    console.log("  side      calls/s  ratio  paired  client CPU/call  server CPU/call  client cores")
    for (const name of names) {
      const f = figures[name]!
      const rate = median(f.rates), cpu = median(f.cpu)
      // the median of the ratios to the raw SDK's batch of the same round
      const paired = median(f.rates.map((r, round) => r / figures.raw!.rates[round]!))
      console.log(
        `  ${name.padEnd(8)} ${rate.toFixed(0).padStart(8)} ${(rate / rawRate).toFixed(3).padStart(6)} ${paired.toFixed(3).padStart(7)} ` +
          `${cpu.toFixed(0).padStart(13)} µs ${(f.server / (batches * perBatch)).toFixed(0).padStart(13)} µs ` +
          `${(rate * cpu / 1e6).toFixed(2).padStart(13)}`
      )
    }
    if (session !== undefined) {
      const { profile } = await session.post("Profiler.stop")
      const bySide = selfTimeByScript(profile as Parameters<typeof selfTimeByScript>[0], windows)
      const calls = batches * perBatch
      const scripts = new Map<string, number>()
      for (const name of names) for (const [script, us] of bySide[name] ?? []) scripts.set(script, Math.max(scripts.get(script) ?? 0, us))
      console.log("  self time per call while the side ran, by script (µs; the profiler's own cost included):")
      console.log(`  ${"script".padEnd(58)}${names.map((name) => name.padStart(9)).join("")}`)
      const total = (name: string) => [...(bySide[name]?.values() ?? [])].reduce((a, b) => a + b, 0) / calls
      console.log(`  ${"all".padEnd(58)}${names.map((name) => total(name).toFixed(1).padStart(9)).join("")}`)
      for (const [script] of [...scripts].sort((a, b) => b[1] - a[1]).slice(0, arg("top", 30))) {
        console.log(`  ${script.slice(-58).padEnd(58)}${names.map((name) => ((bySide[name]?.get(script) ?? 0) / calls).toFixed(2).padStart(9)).join("")}`)
      }
    }
  } finally {
    session?.disconnect()
    await built.close()
    await server.close()
  }
}

const which = process.argv[2] ?? "scale"
const inProcess = process.argv.includes("--in-process")
const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`))
  return found === undefined ? fallback : Number(found.slice(name.length + 3))
}
if (which === "scale") await scale(arg("runs", 10_000), arg("rounds", 5))
else if (which === "seq") await seq(arg("runs", 10_000), arg("rounds", 7))
else if (which === "bare") await bare(arg("runs", 10_000), arg("rounds", 5))
else if (which === "timeline") {
  const kind = process.argv.includes("--structured") ? "structured" : process.argv.includes("--streamed") ? "streamed" : "loop"
  await timeline(arg("rounds", 400), kind)
}
else if (which === "structured") await versusRaw("structured", arg("blocks", 40), arg("per", 50), inProcess)
else if (which === "throughput") await throughputOf(arg("batches", 21), arg("per", 1000), process.argv.includes("--profile"))
else if (which === "client") await versusRaw("client", arg("blocks", 40), arg("per", 50), inProcess)
else await versusRaw("toolLoop", arg("blocks", 20), arg("per", 20), inProcess)
process.exit(0)
