/**
 * Measuring helpers of the benchmark: interleaved runs (A B A B ...), so that
 * every side sees the same machine state, with latency percentiles and the
 * client CPU time per call.
 *
 * The server answering the calls runs in another process, so the CPU time
 * measured here is the client's alone.
 */

/** The statistics of one side of a comparison. */
export interface Stats {
  readonly samples: number
  readonly medianUs: number
  readonly p95Us: number
  readonly p99Us: number
  readonly meanUs: number
  /** Client CPU (user + system) per call, in µs. */
  readonly cpuUs: number
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[index]!
}

export const summarize = (latenciesUs: ReadonlyArray<number>, cpuUs: number): Stats => {
  const sorted = [...latenciesUs].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    samples: sorted.length,
    medianUs: percentile(sorted, 0.5),
    p95Us: percentile(sorted, 0.95),
    p99Us: percentile(sorted, 0.99),
    meanUs: sum / Math.max(1, sorted.length),
    cpuUs
  }
}

const nowUs = () => Number(process.hrtime.bigint()) / 1000

const cpuNowUs = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/**
 * Runs the sides one call at a time, interleaved, for `rounds` rounds after
 * `warmup` rounds, and returns each side's statistics.
 */
export const interleaved = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly warmup: number; readonly rounds: number }
): Promise<Record<string, Stats>> => {
  const names = Object.keys(sides)
  for (let i = 0; i < options.warmup; i++) {
    for (const name of names) await sides[name]!()
  }
  const latencies: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  const cpu: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]))
  for (let i = 0; i < options.rounds; i++) {
    // alternate the order each round, so no side always runs first
    const order = i % 2 === 0 ? names : [...names].reverse()
    for (const name of order) {
      const cpuStart = cpuNowUs()
      const start = nowUs()
      await sides[name]!()
      latencies[name]!.push(nowUs() - start)
      cpu[name]! += cpuNowUs() - cpuStart
    }
  }
  return Object.fromEntries(names.map((name) => [name, summarize(latencies[name]!, cpu[name]! / options.rounds)]))
}

/**
 * Calls per second with `concurrency` calls in flight, per side, measured in
 * interleaved batches of `perBatch` calls.
 */
export const throughput = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly concurrency: number; readonly perBatch: number; readonly batches: number }
): Promise<Record<string, number>> => {
  const names = Object.keys(sides)
  const totals: Record<string, { calls: number; us: number }> = Object.fromEntries(
    names.map((name) => [name, { calls: 0, us: 0 }])
  )
  const batch = async (call: () => Promise<unknown>) => {
    let next = 0
    const worker = async () => {
      while (next < options.perBatch) {
        next++
        await call()
      }
    }
    const start = nowUs()
    await Promise.all(Array.from({ length: options.concurrency }, worker))
    return nowUs() - start
  }
  // one warm-up batch per side
  for (const name of names) await batch(sides[name]!)
  for (let i = 0; i < options.batches; i++) {
    const order = i % 2 === 0 ? names : [...names].reverse()
    for (const name of order) {
      const us = await batch(sides[name]!)
      totals[name]!.calls += options.perBatch
      totals[name]!.us += us
    }
  }
  return Object.fromEntries(names.map((name) => [name, totals[name]!.calls / (totals[name]!.us / 1e6)]))
}

/**
 * Heap used per in-flight call: starts `count` calls at once against a server
 * that holds its answers, and measures the heap growth after a full GC while
 * they wait. Needs `node --expose-gc`.
 */
export const heapPerCall = async (
  start: (count: number) => { readonly inFlight: Promise<void>; readonly release: () => void },
  count: number
): Promise<number> => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return Number.NaN
  gc()
  const before = process.memoryUsage().heapUsed
  const { inFlight, release } = start(count)
  // let every call reach the server and wait there
  await new Promise((resolve) => setTimeout(resolve, 300))
  gc()
  const during = process.memoryUsage().heapUsed
  release()
  await inFlight
  return (during - before) / count
}

export const format = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a"
