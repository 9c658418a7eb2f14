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
  /** Client CPU (user + system) per call, in µs (see {@link cpuPerCall}). */
  readonly cpuUs: number
  /** The CPU of the interleaved calls themselves, each call's window on its own (noisier). */
  readonly cpuInterleavedUs?: number | undefined
  /** CPU per call over the first side's (the floor's): the median of the differences of blocks of the same round. */
  readonly cpuAddedUs?: number | undefined
}

/**
 * Latency from single calls interleaved (A B C, rotated), then the client CPU
 * per call from rotated blocks (see {@link cpuPerCall}).
 */
export const compare = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly warmup: number; readonly rounds: number; readonly blocks: number; readonly perBlock: number }
): Promise<Record<string, Stats>> => {
  const latency = await interleaved(sides, options)
  const cpu = await cpuPerCall(sides, options)
  return Object.fromEntries(
    Object.keys(sides).map((name) => [name, {
      ...latency[name]!,
      cpuUs: cpu.perCall[name]!,
      cpuAddedUs: cpu.added[name]!,
      cpuInterleavedUs: latency[name]!.cpuUs
    }])
  )
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[index]!
}

/** The median of `values` (left as they are). */
export const median = (values: ReadonlyArray<number>): number => percentile([...values].sort((a, b) => a - b), 0.5)

/** Makes `count` calls of `call`, `concurrency` of them in flight at a time. */
export const concurrently = async (call: () => Promise<unknown>, concurrency: number, count: number): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      await call()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
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

/**
 * The order of round `i`: a Williams design, the sides' orders chosen so that
 * over every {@link rotationCycle} rounds each side runs in each position,
 * and right after each other side, equally often. What a side leaves behind
 * (garbage to collect, a young generation grown) is paid partly by the side
 * after it: a fixed neighbour would charge one side for another's cost.
 */
export const rotation = (names: ReadonlyArray<string>, i: number): ReadonlyArray<string> => {
  const n = names.length
  const row = i % rotationCycle(n)
  // the base order 0, 1, n-1, 2, n-2, ... shifted by the row; with an odd
  // number of sides the mirrored rows complete the balance
  const order = names.map((_, k) => names[((k % 2 === 1 ? (k + 1) / 2 : (n - k / 2) % n) + row) % n]!)
  return row < n ? order : order.reverse()
}

/** How many rounds {@link rotation} takes to balance `sides` sides: `sides`, or twice that when odd. */
export const rotationCycle = (sides: number): number => sides % 2 === 0 ? sides : 2 * sides

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
    for (const name of rotation(names, i)) {
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
 * Client CPU (user + system) per call, per side, in µs: the sides run in
 * rotated blocks of `perBlock` consecutive calls, and each block's CPU time is
 * charged to its side. Blocks charge each side with the garbage collection
 * and deferred work its own calls cause, which single interleaved calls
 * cannot (a collection often falls in the call after the one that caused it).
 */
export const cpuPerCall = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly blocks: number; readonly perBlock: number }
): Promise<{ readonly perCall: Record<string, number>; readonly added: Record<string, number> }> => {
  const names = Object.keys(sides)
  const perCall: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  for (let i = 0; i < options.blocks; i++) {
    for (const name of rotation(names, i)) {
      const call = sides[name]!
      const start = cpuNowUs()
      for (let k = 0; k < options.perBlock; k++) await call()
      perCall[name]!.push((cpuNowUs() - start) / options.perBlock)
    }
  }
  // the median block, for the same reason as in `throughput`; what a side
  // adds is read from the blocks of the same round, which saw the same
  // machine (the difference of two medians moves with the machine's drift)
  const floor = perCall[names[0]!]!
  return {
    perCall: Object.fromEntries(names.map((name) => [name, median(perCall[name]!)])),
    added: Object.fromEntries(names.map((name) => [name, median(perCall[name]!.map((us, round) => us - floor[round]!))]))
  }
}

/** One side's throughput: calls per second and the client's CPU per call. */
export interface Throughput {
  /** Calls per second, the median batch. */
  readonly rate: number
  /** The client process's CPU (user + system) per call in µs, the median batch. */
  readonly cpuUs: number
}

/**
 * Calls per second with `concurrency` calls in flight, per side, measured in
 * interleaved batches of `perBatch` calls, with the client's CPU per call:
 * under this load the client's processor is the bottleneck, so a side's
 * calls per second follow its CPU per call.
 */
export const throughput = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly concurrency: number; readonly perBatch: number; readonly batches: number }
): Promise<Record<string, Throughput>> => {
  const names = Object.keys(sides)
  const rates: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  const cpu: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  const batch = async (call: () => Promise<unknown>) => {
    const cpuStart = cpuNowUs()
    const start = nowUs()
    await concurrently(call, options.concurrency, options.perBatch)
    return { us: nowUs() - start, cpuUs: cpuNowUs() - cpuStart }
  }
  // one warm-up batch per side
  for (const name of names) await batch(sides[name]!)
  for (let i = 0; i < options.batches; i++) {
    for (const name of rotation(names, i)) {
      const { cpuUs, us } = await batch(sides[name]!)
      rates[name]!.push(options.perBatch / (us / 1e6))
      cpu[name]!.push(cpuUs / options.perBatch)
    }
  }
  // the median batch: on a shared machine a batch now and then runs slow for
  // all sides alike, and a sum would charge it to whichever side it fell on
  return Object.fromEntries(names.map((name) => [name, { rate: median(rates[name]!), cpuUs: median(cpu[name]!) }]))
}

const gcNow = (): boolean => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return false
  gc()
  return true
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Heap used per in-flight call, per side: starts `count` calls at once
 * against a server that holds its answers, waits `settleMs` for every call to
 * reach the server, and measures the heap growth after a full GC while they
 * wait; then lets them finish. Sides are measured in interleaved rounds (the
 * median is reported). Needs `node --expose-gc` (NaN without it).
 */
export const heapPerCall = async (
  sides: Readonly<Record<string, () => Promise<unknown>>>,
  options: { readonly count: number; readonly rounds: number; readonly settleMs: number }
): Promise<Record<string, number>> => {
  const names = Object.keys(sides)
  const start = (call: () => Promise<unknown>) => Promise.all(Array.from({ length: options.count }, call))
  // warm-up: every side once, all at the same time
  await Promise.all(names.map((name) => start(sides[name]!)))
  const samples: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
  for (let i = 0; i < options.rounds; i++) {
    for (const name of rotation(names, i)) {
      if (!gcNow()) return Object.fromEntries(names.map((n) => [n, Number.NaN]))
      const before = process.memoryUsage().heapUsed
      const inFlight = start(sides[name]!)
      await sleep(options.settleMs)
      gcNow()
      const during = process.memoryUsage().heapUsed
      await inFlight
      samples[name]!.push((during - before) / options.count)
    }
  }
  return Object.fromEntries(names.map((name) => [name, percentile(samples[name]!.sort((a, b) => a - b), 0.5)]))
}

/** Runs a full GC when node runs with `--expose-gc`; says whether it did. */
export const collect = gcNow

export { sleep }

export const format = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a"
