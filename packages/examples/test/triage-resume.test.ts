/**
 * The flagship is durable: stopped after some tickets (Ctrl-C, or killed
 * outright), it resumes on the next start, says so with the run id, does not
 * redo the finished tickets (they replay from the journal with no new model
 * or tool call), and ends with the complete results.
 */
import { assert, describe, it } from "@effect/vitest"
import { join } from "node:path"
import { doneTickets, run, start, tempDir } from "./support/spawn.ts"
import { readResults } from "./support/results.ts"

const stopAfter = async (signal: NodeJS.Signals, tickets: number) => {
  const dir = tempDir(`resume-${signal}`)
  const args = ["--state", join(dir, "state"), "--out", join(dir, "out")]
  // slow enough to stop it half-way
  const first = start("triage", args, { env: { SCRIPTED_LATENCY_MS: "150" } })
  await first.waitFor((stdout) => doneTickets(stdout).length >= tickets)
  first.child.kill(signal)
  const exit = await first.exit
  const stdout = first.stdout()
  const runId = /Starting run (triage-\S+):/.exec(stdout)![1]!
  return { args, exit, stdout, stderr: first.stderr(), runId, done: doneTickets(stdout), dir }
}

const resume = async (first: Awaited<ReturnType<typeof stopAfter>>) => {
  const second = await run("triage", first.args, { env: { SCRIPTED_LATENCY_MS: "20" } })
  assert.strictEqual(second.code, 0, second.stderr)
  const stdout = second.stdout
  // it says it resumes, with the run id, and how much was done
  const resumed = new RegExp(
    `^Resuming run ${first.runId} \\(started [^)]+\\): (\\d+) of 8 tickets already done, replayed from the journal`,
    "m"
  ).exec(stdout)
  assert.isNotNull(resumed, stdout)
  assert.isAtLeast(Number(resumed![1]), first.done.length)
  // the finished tickets are not redone: replayed, not a single new call
  for (const id of first.done) {
    assert.match(stdout, new RegExp(`^${id}\\s+done\\s+.*\\(replayed from the journal, 0 new calls\\)$`, "m"))
    assert.match(stdout, new RegExp(`^${id}\\s+replayed\\s`, "m"))
  }
  // the others ran now
  const fresh = doneTickets(stdout).filter((id) => !first.done.includes(id))
  assert.strictEqual(fresh.length + first.done.length, 8)
  assert.include(stdout, `Run ${first.runId} complete.`)
  const results = readResults(join(first.dir, "out"))
  assert.isTrue(results.complete)
  assert.strictEqual(results.runId, first.runId)
  assert.strictEqual(results.tickets.length, 8)
  return { stdout, results }
}

describe("npm start resumes", () => {
  it("after Ctrl-C (SIGINT)", async () => {
    const first = await stopAfter("SIGINT", 3)
    // a graceful stop: exit code 130, and it says how to resume
    assert.strictEqual(first.exit.code, 130, first.stderr)
    assert.strictEqual(first.stderr, "")
    const stopped = new RegExp(
      `^Stopped: (\\d+) of 8 tickets done, kept in run ${first.runId}\\. Run the same command again to resume it`,
      "m"
    ).exec(first.stdout)
    assert.isNotNull(stopped, first.stdout)
    assert.isBelow(first.done.length, 8)
    // what was done is on disk already
    const partial = readResults(join(first.dir, "out"))
    assert.isFalse(partial.complete)
    const saved = partial.tickets.map((t) => t.id)
    for (const id of first.done) assert.include(saved, id)
    assert.strictEqual(saved.length, Number(stopped![1]))

    const { results } = await resume(first)
    // the replayed tickets have the results of the first process
    for (const ticket of partial.tickets) {
      assert.deepStrictEqual(results.tickets.find((t) => t.id === ticket.id)?.triage, ticket.triage)
    }
  })

  it("after kill -9 (SIGKILL)", async () => {
    const first = await stopAfter("SIGKILL", 2)
    assert.strictEqual(first.exit.signal, "SIGKILL")
    await resume(first)
  })
})
