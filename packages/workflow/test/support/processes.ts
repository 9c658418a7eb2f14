/**
 * Real processes for the workflow tests: starting a worker (support/worker.ts)
 * or another child (the approver) with its configuration, trying again what a
 * loaded machine may make fail, the deadlines from environment settings, and
 * the cleanup of a test file's tables.
 *
 * Nothing here assumes how fast a process starts or a step commits: a worker
 * is ready when it says so, a start that fails is tried again, and every wait
 * has a deadline from configuration.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import { pgConfig, withSql } from "./pg.ts"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A positive number from the environment variable `name`, or `fallback`. */
export const setting = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}

/** A small seeded generator (mulberry32), so a failing schedule can be replayed. */
export const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Tries `f` again (after `pauseMs`) until it succeeds or `deadlineMs` passed; the last error is thrown. */
export const persist = async <A>(what: string, f: () => Promise<A>, deadlineMs: number, pauseMs = 250): Promise<A> => {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    try {
      return await f()
    } catch (error) {
      if (Date.now() >= deadline) throw new Error(`${what}: ${String(error)}`)
      await sleep(pauseMs)
    }
  }
}

/** Polls `check` (every `pauseMs`) until it gives a value; throws after `deadlineMs`. */
export const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  deadlineMs: number,
  pauseMs = 250
): Promise<A> => {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${deadlineMs} ms`)
    await sleep(pauseMs)
  }
}

/** How a child process reaches the PostgreSQL of the tests (support/pg.ts's settings). */
export interface PgTarget {
  readonly url?: string | undefined
  readonly host: string
  readonly port: number
  readonly username: string
  readonly database: string
}

export const pgTarget = (): PgTarget => {
  const url = process.env.DATABASE_URL
  return {
    url: url !== undefined && url.length > 0 ? url : undefined,
    host: pgConfig.host ?? "127.0.0.1",
    port: pgConfig.port ?? 5432,
    username: pgConfig.username ?? "postgres",
    database: pgConfig.database ?? "test"
  }
}

/** The configuration of a worker process (support/worker.ts reads it from argv[2]). */
export interface WorkerConfig {
  readonly port: number
  /** The worker's number, logged with every model and tool call it makes. */
  readonly worker: number
  readonly prefix: string
  /** The log table (support/shop.ts's `createLog`). */
  readonly log: string
  readonly latencyMs: number
  /** The agent it runs: the shop (default) or the desk, whose refund needs approval. */
  readonly agent?: "shop" | "desk" | undefined
  /** The `application_name` of its PostgreSQL connections, so a test can find them. */
  readonly applicationName?: string | undefined
  /** Sharding settings over support/shop.ts's `sharding` (durations as strings, such as "5 seconds"). */
  readonly sharding?: Record<string, string | number> | undefined
  /** `WorkflowEngines.runWorker`'s options (durations as strings). */
  readonly watchdog?: { readonly checkEvery?: string; readonly giveUpAfter?: string; readonly stopWithin?: string } | undefined
  readonly pg: PgTarget
}

export const workerPath = new URL("./worker.ts", import.meta.url).pathname

/** A worker process the test starts, kills and starts again. */
export interface Worker {
  readonly index: number
  readonly port: number
  process: ChildProcess | undefined
  /** The current process printed `ready`. */
  ready: boolean
  /** What the current process printed (stdout and stderr: effect's logger writes errors to stdout). */
  output: string
}

export const makeWorker = (index: number, port: number): Worker => ({
  index,
  port,
  process: undefined,
  ready: false,
  output: ""
})

/** Runs a TypeScript module of this folder in a child process (the source condition, as the tests resolve). */
export const spawnModule = (path: string, config: unknown): ChildProcess =>
  spawn(process.execPath, ["--conditions=@effect-harness/source", path, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe"]
  })

/** Starts the worker's process; resolves once it is ready, rejects if it exits first or takes longer than startMs. */
export const spawnWorker = (worker: Worker, config: Omit<WorkerConfig, "port" | "worker">, startMs: number) =>
  new Promise<void>((resolve, reject) => {
    const child = spawnModule(workerPath, { ...config, port: worker.port, worker: worker.index })
    worker.process = child
    worker.ready = false
    worker.output = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`worker ${worker.index} not ready after ${startMs} ms: ${worker.output}`))
    }, startMs)
    child.stderr!.on("data", (chunk) => {
      if (worker.process === child) worker.output += String(chunk)
    })
    // ready is a line of its own: an error printed on stdout may contain the
    // word ("address already in use") and must not pass for it
    let stdout = ""
    child.stdout!.on("data", (chunk) => {
      stdout += String(chunk)
      if (worker.process === child) worker.output += String(chunk)
      if (stdout.split("\n").some((line) => line.trim() === "ready") && worker.process === child && !worker.ready) {
        clearTimeout(timer)
        worker.ready = true
        resolve()
      }
    })
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      if (worker.process === child) worker.ready = false
      reject(new Error(`worker ${worker.index} exited (${signal ?? code}) before it was ready: ${worker.output}`))
    })
  })

/** Starts the worker, again if a start fails (a loaded machine, a port not yet free), until it is ready. */
export const startWorker = (worker: Worker, config: Omit<WorkerConfig, "port" | "worker">, startMs: number) =>
  persist(`worker ${worker.index}`, () => spawnWorker(worker, config, startMs), startMs, 500)

/** Kills the worker's process with SIGKILL and resolves once it is gone. */
export const killWorker = (worker: Worker) =>
  new Promise<void>((resolve) => {
    const child = worker.process
    worker.ready = false
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** Runs a child process to its end; resolves with its exit code and output. */
export const runChild = (path: string, config: unknown, deadlineMs: number) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>(
    (resolve, reject) => {
      const child = spawnModule(path, config)
      let stdout = ""
      let stderr = ""
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`${path} did not finish within ${deadlineMs} ms: ${stderr}`))
      }, deadlineMs)
      child.stdout!.on("data", (chunk) => stdout += String(chunk))
      child.stderr!.on("data", (chunk) => stderr += String(chunk))
      child.on("exit", (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    }
  )

/** Drops the tables of a test file (all under its unique prefix). */
export const dropTables = (prefix: string) =>
  withSql((sql) =>
    Effect.gen(function*() {
      const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${
        prefix + "%"
      }`
      for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
    })
  )
