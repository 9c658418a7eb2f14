/**
 * Bad input and broken configuration: each gives one line on stderr saying
 * what is wrong and what to do, a non-zero exit and no stack trace, and what
 * was already done is kept for the next run.
 */
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { bundledData, doneTickets, oneLineError, run, start, tempDir } from "./support/spawn.ts"

/** Runs `f` with a fake OpenAI server that only accepts `sk-right`; returns what `f` returned and the requests. */
const withKeyCheckingServer = <A>(f: (url: string) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.make({ apiKey: "sk-right" })
    const result = yield* Effect.promise(() => f(server.url))
    return { result, requests: (yield* server.requests).length }
  })))

const copyData = (dir: string) => {
  const data = join(dir, "data")
  cpSync(bundledData, data, { recursive: true })
  return data
}

describe("npm start with bad input", () => {
  it("a missing data folder", async () => {
    const dir = tempDir("missing")
    const result = await run("triage", ["--data", join(dir, "nope"), "--state", join(dir, "state")])
    assert.strictEqual(result.code, 1)
    const line = oneLineError(result.stderr)
    assert.include(line, `Cannot read the tickets folder ${join(dir, "nope", "tickets")}: it does not exist`)
    assert.include(line, "pass --data DIR")
    assert.strictEqual(result.stdout, "")
  })

  it("a data folder that is a file", async () => {
    const dir = tempDir("file")
    mkdirSync(join(dir, "data"))
    writeFileSync(join(dir, "data", "tickets"), "not a folder")
    const result = await run("triage", ["--data", join(dir, "data"), "--state", join(dir, "state")])
    assert.strictEqual(result.code, 1)
    assert.include(oneLineError(result.stderr), `the tickets folder ${join(dir, "data", "tickets")} is not a folder`)
  })

  it("an unreadable ticket", async () => {
    const dir = tempDir("unreadable")
    const data = copyData(dir)
    // a folder where a ticket file should be: reading it fails (chmod would not stop root)
    mkdirSync(join(data, "tickets", "T-0999.json"))
    const result = await run("triage", ["--data", data, "--state", join(dir, "state")])
    assert.strictEqual(result.code, 1)
    assert.include(oneLineError(result.stderr), `Cannot read the ticket file ${join(data, "tickets", "T-0999.json")}`)
  })

  it("an unknown flag, a bad number", async () => {
    const flag = await run("triage", ["--colour"])
    assert.strictEqual(flag.code, 1)
    assert.include(oneLineError(flag.stderr), "Unknown option '--colour'. Usage: npm start --")
    const number = await run("triage", ["--concurrency", "0"])
    assert.strictEqual(number.code, 1)
    assert.include(oneLineError(number.stderr), `--concurrency must be a positive integer, got "0"`)
  })

  it("a malformed ticket, an unreachable server, a wrong API key: one line each, and the work done is kept", async () => {
    const dir = tempDir("kept")
    const data = copyData(dir)
    const args = ["--data", data, "--state", join(dir, "state"), "--out", join(dir, "out")]

    // some work done, then stopped
    const first = start("triage", args, { env: { SCRIPTED_LATENCY_MS: "150" } })
    await first.waitFor((stdout) => doneTickets(stdout).length >= 2)
    first.child.kill("SIGINT")
    assert.strictEqual((await first.exit).code, 130)
    const runId = /Starting run (triage-\S+):/.exec(first.stdout())![1]!
    const done = doneTickets(first.stdout())

    // a malformed ticket: found before any model call
    writeFileSync(join(data, "tickets", "T-2000.json"), JSON.stringify({ id: "T-2000", subject: "Help" }))
    const malformed = await run("triage", args)
    assert.strictEqual(malformed.code, 1)
    const line = oneLineError(malformed.stderr)
    assert.include(line, `${join(data, "tickets", "T-2000.json")} is not a valid ticket (Missing key at ["body"])`)
    assert.include(line, "fix or remove the file, then run again")
    rmSync(join(data, "tickets", "T-2000.json"))

    // nothing listens on port 9: retried, then one line
    const unreachable = await run("triage", args, { env: { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } })
    assert.strictEqual(unreachable.code, 1)
    assert.match(
      oneLineError(unreachable.stderr),
      new RegExp(
        "^error: Cannot reach the model server at http://127\\.0\\.0\\.1:9/v1 after 4 attempts \\(.+\\): is it running\\? " +
          `Check OPENAI_BASE_URL, or unset it to use the scripted model; finished tickets are kept: run again to resume run ${runId}$`
      )
    )
    assert.match(unreachable.stdout, /^Model: gpt-4o-mini on the OpenAI-compatible server http:\/\/127\.0\.0\.1:9\/v1/m)
    assert.match(unreachable.stdout, /retry 3: connection failed, waiting/)
    assert.match(unreachable.stdout, new RegExp(`^Resuming run ${runId}`, "m"))

    // a key the server rejects: fatal, so not retried
    const { requests, result: rejected } = await withKeyCheckingServer((url) =>
      run("triage", args, { env: { OPENAI_BASE_URL: url, OPENAI_API_KEY: "sk-wrong" } })
    )
    assert.strictEqual(rejected.code, 1)
    assert.match(
      oneLineError(rejected.stderr),
      /^error: The model server at http:\/\/127\.0\.0\.1:\d+\/v1 rejected the API key \(HTTP 401\): .*Incorrect API key provided.*; check OPENAI_API_KEY/
    )
    assert.isAtMost(requests, 3) // one per ticket started (3 at a time), none retried

    // everything done before is still there: the next run resumes and replays it
    const last = await run("triage", args, { env: { SCRIPTED_LATENCY_MS: "0" } })
    assert.strictEqual(last.code, 0, last.stderr)
    assert.match(last.stdout, new RegExp(`^Resuming run ${runId} \\(started [^)]+\\): \\d+ of 8 tickets already done`, "m"))
    for (const id of done) {
      assert.match(last.stdout, new RegExp(`^${id}\\s+done\\s+.*\\(replayed from the journal, 0 new calls\\)$`, "m"))
    }
    assert.include(last.stdout, `Run ${runId} complete.`)
  })
})
