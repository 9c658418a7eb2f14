/**
 * Run leases across real processes on the file store: a child process holds a
 * run live (fixtures/lease-holder.ts), the test process resumes it. In one
 * PID namespace a killed holder is known dead at once; in another (unshare),
 * its lease is honoured until it expires.
 */
import { Durable, Journal, RunStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import type { HolderConfig } from "./fixtures/lease-holder.ts"

const holderPath = fileURLToPath(new URL("./fixtures/lease-holder.ts", import.meta.url))
const directory = mkdtempSync(join(tmpdir(), "lease-runs-"))
const children: Array<ChildProcess> = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  rmSync(directory, { recursive: true, force: true })
})

const store = RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer))

/** Starts a holder (in a PID namespace of its own when `unshare`); resolves once its run is live. */
const startHolder = (config: HolderConfig, unshare: boolean): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const node = [process.execPath, "--conditions=@effect-harness/source", holderPath, JSON.stringify(config)]
    const child = unshare
      ? spawn("unshare", ["-p", "-f", "--kill-child", "--mount-proc", ...node], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(node[0]!, node.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
    children.push(child)
    let stdout = ""
    let stderr = ""
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (stdout.includes("live ")) resolve(child)
    })
    child.on("error", reject)
    child.on("close", (code) => reject(new Error(`holder exited ${code} before its run was live: ${stderr}`)))
  })

const killed = (child: ChildProcess) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      child.removeAllListeners("close")
      child.on("close", () => resolve())
      child.kill("SIGKILL")
    })
  )

const calls: Array<string> = []
const resume = (runId: string, options?: Durable.RunOptions) =>
  Effect.gen(function*() {
    const plan = yield* Journal.step(
      { kind: "model", name: "plan", request: { ask: "plan" } },
      Schema.String,
      Effect.sync(() => {
        calls.push("plan")
        return "plan-result"
      })
    )
    const answer = yield* Journal.step(
      { kind: "model", name: "answer", request: { ask: "answer" } },
      Schema.String,
      Effect.sync(() => {
        calls.push("answer")
        return "answer-result"
      })
    )
    return [plan, answer]
  }).pipe(Durable.run(runId, options), Effect.provide(store))

describe("run leases across processes (file store)", () => {
  it.live("a run live in another process: a resume fails at once with the holder's lease; once the holder is killed (SIGKILL, same PID namespace) it is taken over at once", () =>
    Effect.gen(function*() {
      const runId = `live-${Date.now().toString(36)}`
      const holder = yield* Effect.promise(() => startHolder({ directory, runId, lease: "30 seconds" }, false))
      calls.length = 0
      const started = Date.now()
      const error = yield* Effect.flip(resume(runId))
      assert.strictEqual(error._tag, "JournalError")
      const conflict = error as Journal.JournalError
      assert.strictEqual(conflict.reason, "conflict")
      assert.include(conflict.message, `live elsewhere: process ${holder.pid}`)
      assert.isAbove(conflict.lease!.expiresAt, Date.now() + 20_000)
      assert.deepStrictEqual(calls, [])
      assert.isBelow(Date.now() - started, 2_000)
      yield* killed(holder)
      // the holder is known dead (same PID namespace): no waiting for its 30 s lease
      const resumedAt = Date.now()
      assert.deepStrictEqual(yield* resume(runId), ["plan-result", "answer-result"])
      assert.deepStrictEqual(calls, ["answer"])
      assert.isBelow(Date.now() - resumedAt, 5_000)
    }), 60_000)

  it.live("a holder in another PID namespace (unshare) killed with SIGKILL: its lease is honoured until it expires, then a waiting resume takes over", () =>
    Effect.gen(function*() {
      const runId = `namespace-${Date.now().toString(36)}`
      const holder = yield* Effect.promise(() => startHolder({ directory, runId, lease: "4 seconds" }, true))
      yield* killed(holder)
      calls.length = 0
      // its pid means nothing here: only the lease's expiry ends it
      const error = yield* Effect.flip(resume(runId))
      const lease = (error as Journal.JournalError).lease
      assert.isDefined(lease)
      assert.deepStrictEqual(calls, [])
      assert.deepStrictEqual(yield* resume(runId, { ifLive: "wait" }), ["plan-result", "answer-result"])
      assert.isAtLeast(Date.now(), lease!.expiresAt)
      assert.isBelow(Date.now() - lease!.expiresAt, 3_000)
      assert.deepStrictEqual(calls, ["answer"])
    }), 60_000)
})
