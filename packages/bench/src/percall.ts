/**
 * Section 1, per-call overhead: the same structured-output call, streamed
 * answer and 5-step tool loop (plain and streamed) through the raw `openai` SDK (the floor),
 * effect-harness and the Vercel AI SDK, interleaved against one
 * `FakeOpenAiServer` in a child process. Sequential latency (median, p95),
 * client CPU per call, throughput at concurrency 64, heap per in-flight call.
 */
import { compare, heapPerCall, throughput } from "./measure.ts"
import { comparison, ratio, type Report } from "./report.ts"
import type { RunningServer } from "./server.ts"
import * as Sides from "./sides.ts"
import { format } from "./measure.ts"

export interface PerCallOptions {
  /** Sequential rounds per comparison (scaled down with `--quick`). */
  readonly scale: number
}

const section = "per-call"

export const runPerCall = async (report: Report, server: RunningServer, options: PerCallOptions): Promise<void> => {
  const raw = Sides.raw(server.url)
  const effectOnRaw = Sides.effectOnRaw(server.url)
  const vercel = Sides.vercel(server.url)
  const harness = await Sides.harness(server.url)
  const ours = harness.value
  const names = {
    raw: "raw openai SDK",
    ours: "effect-harness",
    vercel: "Vercel AI SDK"
  }
  const n = (count: number) => Math.max(20, Math.round(count * options.scale))

  try {
    report.print("== 1. Per-call overhead ==")
    report.print()

    // structured output, sequential
    // (with two reference rows: what effect and Schema cost around the raw SDK,
    // and what the provider's fast path adds; the harness is the rest; and the
    // raw SDK on a second client: what two identical sides differ by. Every
    // side of the throughput below runs here first: a client that has served
    // thousands of calls one by one runs some percent faster at concurrency 64
    // than a fresh one, whose throughput would read low.)
    const raw2 = Sides.raw(server.url)
    const structuredSides = {
      raw: raw.structured,
      ours: ours.structured,
      effect: effectOnRaw.structured,
      direct: ours.bareStructured,
      again: raw2.structured,
      vercel: vercel.structured
    }
    const effectSide = "the raw SDK in Effect.tryPromise, answer decoded with the Schema"
    const directSide = "OpenAiLanguageModel's DirectModel.generate alone (no harness)"
    const structured = await compare(structuredSides, { warmup: n(300), rounds: n(2000), blocks: 60, perBlock: n(33) })
    comparison(report, section, "Structured-output call", [
      { side: `${names.raw} + JSON.parse`, stats: structured.raw! },
      { side: `${names.ours}: Harness.prompt + retry + OpenAiLanguageModel`, stats: structured.ours! },
      { side: effectSide, stats: structured.effect! },
      { side: directSide, stats: structured.direct! },
      { side: `${names.raw} again, a second client`, stats: structured.again! },
      { side: `${names.vercel}: generateText + Output.object`, stats: structured.vercel! }
    ], { side: `${names.ours}: Harness.prompt + retry + OpenAiLanguageModel`, medianRatio: 1.05, addedCpuUs: 50 })

    // throughput at concurrency 64
    // (with the structured call's reference rows, and a second raw SDK client:
    // two identical sides differ by what the machine's noise gives this
    // figure, the resolution a ratio of a few percent is read at. The
    // client's processor is saturated under this load, so each side's calls
    // per second follow its CPU per call, shown beside them.)
    const concurrency = 64
    // (many short batches: the median of 60 is steadier than that of 11 long
    // ones, and the rotation's balance over them holds 10 times over)
    const batches = 60
    const tput = await throughput(structuredSides, { concurrency, perBatch: n(250), batches })
    report.print(`Structured-output throughput at concurrency ${concurrency} (the median of ${batches} batches of ${n(250)} calls per side)`)
    const tputRows: Array<Array<string>> = []
    const metric = `Structured-output throughput at concurrency ${concurrency}`
    for (
      const [key, side] of [
        ["raw", names.raw],
        ["ours", names.ours],
        ["effect", effectSide],
        ["direct", directSide],
        ["again", `${names.raw} again, a second client (what two identical sides differ by)`],
        ["vercel", names.vercel]
      ] as const
    ) {
      const { cpuUs, rate } = tput[key]!
      const r = rate / tput.raw!.rate
      const targeted = key === "ours"
      report.add({
        section,
        metric,
        side,
        value: rate,
        unit: "calls/s",
        ratio: r,
        ...(targeted ? { target: "ratio >= 0.95", met: r >= 0.95 } : {})
      })
      report.add({ section, metric: `${metric}: client CPU per call`, side, value: cpuUs, unit: "µs", ratio: cpuUs / tput.raw!.cpuUs })
      tputRows.push([
        side,
        `${format(rate)} calls/s`,
        ratio(r),
        `${format(cpuUs)} µs`,
        ratio(cpuUs / tput.raw!.cpuUs),
        targeted ? `>=0.95x ${r >= 0.95 ? "met" : "MISSED"}` : ""
      ])
    }
    report.table(["side", "throughput", "ratio", "client CPU/call", "ratio", "target"], tputRows)
    report.print()

    // streaming
    const streamSide = `${names.ours}: Harness.streamText + OpenAiLanguageModel (DirectModel stream)`
    const stream = await compare(
      { raw: raw.stream, ours: ours.stream, vercel: vercel.stream },
      { warmup: n(100), rounds: n(600), blocks: 24, perBlock: n(30) }
    )
    comparison(report, section, "Streamed answer (60 chunks)", [
      { side: `${names.raw}, stream: true`, stats: stream.raw! },
      { side: streamSide, stats: stream.ours! },
      { side: `${names.vercel}: streamText`, stats: stream.vercel! }
    ], { side: streamSide, medianRatio: 1.0 })

    // 5-step tool loop
    const loop = await compare(
      { raw: raw.toolLoop, ours: ours.toolLoop, bare: ours.bareToolLoop, vercel: vercel.toolLoop },
      { warmup: n(60), rounds: n(400), blocks: 20, perBlock: n(20) }
    )
    comparison(report, section, "5-step tool loop", [
      { side: `hand-written loop on the ${names.raw}`, stats: loop.raw! },
      { side: `${names.ours}: Agent`, stats: loop.ours! },
      { side: "the least an effect agent loop does (bareLoop.ts), same provider", stats: loop.bare! },
      { side: `${names.vercel}: generateText + tools`, stats: loop.vercel! }
    ], { side: `${names.ours}: Agent`, medianRatio: 1.05 })

    // the same loop streamed: every step a stream, its text deltas consumed as they come
    // (with the least an effect loop streamed through a queue does, as
    // Agent.stream hands over its events: bareLoop.ts's throughQueue)
    const streamedLoop = await compare(
      {
        raw: raw.streamedToolLoop,
        ours: ours.streamedToolLoop,
        bare: ours.queuedStreamedToolLoop,
        vercel: vercel.streamedToolLoop
      },
      { warmup: n(60), rounds: n(400), blocks: 24, perBlock: n(20) }
    )
    comparison(report, section, "5-step tool loop, streamed", [
      { side: `hand-written streaming loop on the ${names.raw}`, stats: streamedLoop.raw! },
      { side: `${names.ours}: Agent.stream (TextDelta events)`, stats: streamedLoop.ours! },
      { side: "the bare loop streamed through effect's queue (bareLoop.ts), same provider", stats: streamedLoop.bare! },
      { side: `${names.vercel}: streamText + tools`, stats: streamedLoop.vercel! }
    ], { side: `${names.ours}: Agent.stream (TextDelta events)`, medianRatio: 1.05 })

    // heap per in-flight call
    const holdRaw = Sides.raw(server.holdUrl)
    const holdVercel = Sides.vercel(server.holdUrl)
    const holdOurs = await Sides.harness(server.holdUrl)
    try {
      const count = 256
      const heap = await heapPerCall(
        { raw: holdRaw.structured, ours: holdOurs.value.structured, vercel: holdVercel.structured },
        { count, rounds: 3, settleMs: 600 }
      )
      report.print(`Heap per in-flight structured call (${count} calls held by the server, after a full GC)`)
      const rows: Array<Array<string>> = []
      for (const [key, side] of [["raw", names.raw], ["ours", names.ours], ["vercel", names.vercel]] as const) {
        const kb = heap[key]! / 1024
        const r = heap[key]! / heap.raw!
        const targeted = key === "ours"
        report.add({
          section,
          metric: "Heap per in-flight structured call",
          side,
          value: kb,
          unit: "KB",
          ratio: r,
          ...(targeted ? { target: "<= 35 KB", met: kb <= 35 } : {})
        })
        rows.push([side, `${format(kb, 1)} KB`, ratio(r), targeted ? `<=35 KB ${kb <= 35 ? "met" : "MISSED"}` : ""])
      }
      report.table(["side", "heap/call", "ratio", "target"], rows)
      report.print()
    } finally {
      await holdOurs.close()
    }
  } finally {
    await harness.close()
  }
}
