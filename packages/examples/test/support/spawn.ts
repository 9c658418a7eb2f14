/**
 * Runs an example as a real child process, the way a user does: its own
 * Node process, its stdin, stdout and stderr, its exit code, and signals.
 * The model variables are cleared, so the scripted model answers unless a
 * test sets them.
 */
import { afterAll } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../..", import.meta.url))

/** Node 24 runs the `.ts` sources directly; older ones take the repository's own Node. */
const node = Number(process.versions.node.split(".")[0]) >= 24 || !existsSync(join(root, "node_modules/.bin/node"))
  ? process.execPath
  : join(root, "node_modules/.bin/node")

const compileCache = mkdtempSync(join(tmpdir(), "examples-compile-cache-"))

// Everything a test file creates in the temporary folder goes when the file is done
// (this module is imported once per test file, so the hook is registered once per file).
const created: Array<string> = [compileCache]
afterAll(() => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true })
})

/** An example's entry point: `<name>/main.ts`, or `<folder>/<file>.ts` for the other commands of an example. */
export type Example = "triage" | "chat" | "server" | "triage/worker" | "triage/submit"

const entry = (example: Example) => example.includes("/") ? `${example}.ts` : `${example}/main.ts`

export interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when the process exits. */
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** Resolves with stdout once `test` holds for it; rejects if the process exits first or after `timeout` ms. */
  readonly waitFor: (test: (stdout: string) => boolean, timeout?: number) => Promise<string>
}

export const start = (example: Example, args: ReadonlyArray<string>, options: {
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly input?: string | undefined
  /** Leaves stdin open for `child.stdin.write` (without `input`). */
  readonly keepStdinOpen?: boolean | undefined
} = {}): Run => {
  const env: Record<string, string | undefined> = { ...process.env, NODE_COMPILE_CACHE: compileCache }
  delete env.OPENAI_API_KEY
  delete env.OPENAI_BASE_URL
  delete env.OPENAI_MODEL
  delete env.SCRIPTED_LATENCY_MS
  const child = spawn(
    node,
    ["--conditions=@effect-harness/source", join(root, "packages/examples/src", entry(example)), ...args],
    { env: { ...env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] }
  )
  let stdout = ""
  let stderr = ""
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    for (const waiter of waiters) waiter()
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      for (const waiter of waiters) waiter()
      resolve({ code, signal })
    })
  )
  if (options.input !== undefined) child.stdin!.end(options.input)
  else if (options.keepStdinOpen !== true) child.stdin!.end()
  const waitFor = (test: (stdout: string) => boolean, timeout = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (test(stdout)) {
          done()
          resolve(stdout)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done()
          reject(new Error(`the process exited first\n--- stdout\n${stdout}\n--- stderr\n${stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out\n--- stdout\n${stdout}\n--- stderr\n${stderr}`))
      }, timeout)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  return { child, stdout: () => stdout, stderr: () => stderr, exit, waitFor }
}

/** Runs an example to its end. */
export const run = async (example: Example, args: ReadonlyArray<string>, options?: Parameters<typeof start>[2]) => {
  const process = start(example, args, options)
  const { code, signal } = await process.exit
  return { code, signal, stdout: process.stdout(), stderr: process.stderr() }
}

/** A fresh temporary folder. */
export const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), `examples-${prefix}-`))
  created.push(dir)
  return dir
}

/** The ids of the tickets with a plain "done" line in this output. */
export const doneTickets = (stdout: string): Array<string> =>
  [...stdout.matchAll(/^(T-\d+)\s+done\s+\S+\/\S+\s+\d+ steps?,/gm)].map((match) => match[1]!)

/** The failure report of a one-line error: exactly one line on stderr, no stack trace. */
export const oneLineError = (stderr: string): string => {
  const lines = stderr.split("\n").filter((line) => line.length > 0)
  if (lines.length !== 1 || !lines[0]!.startsWith("error: ") || /\n\s+at /.test(stderr)) {
    throw new Error(`expected one "error: ..." line on stderr, got:\n${stderr}`)
  }
  return lines[0]!
}

export const bundledData = join(root, "packages/examples/data")
