/**
 * Real crashes: child processes running the durable agent on the file store
 * are killed with SIGKILL (right after each of the first journal writes, and
 * at random moments), then resumed to completion. See support/crashDriver.ts.
 */
import { describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { assertCrashReport, printReport, runCrashSuite } from "./support/crashDriver.ts"

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
    assertCrashReport(report)
  }, 240_000)
})
