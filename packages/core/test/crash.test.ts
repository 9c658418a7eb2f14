/**
 * Real crashes: child processes running the durable agent on the file store
 * are killed with SIGKILL (right after each of the first journal writes, and
 * at random moments), then resumed to completion. See support/crashDriver.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { printReport, runCrashSuite } from "./support/crashDriver.ts"

const directory = mkdtempSync(join(tmpdir(), "crash-runs-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe("crash test: file store", () => {
  it("every run killed with SIGKILL resumes to the uninterrupted run's result; tools never run twice", async () => {
    const report = await runCrashSuite({
      name: "files",
      store: { kind: "file", directory },
      firstWrites: 16,
      randomKills: 28,
      concurrency: 3
    })
    printReport(report)
    assert.deepStrictEqual(report.failures, [])
    assert.isAtLeast(report.kills, 50)
    assert.isAtLeast(report.killsAfterWrite, 16)
    assert.isAtLeast(report.killsAtRandom, 10)
    assert.strictEqual(report.chargesTwice, 0)
  }, 240_000)
})
