/**
 * Real crashes: child processes running the durable agent on the file store
 * are killed with SIGKILL (right after each of the first journal writes, and
 * at random moments), then resumed to completion. See @effect-harness/testing/CrashDriver.
 */
import { describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as CrashDriver from "@effect-harness/testing/CrashDriver"

const directory = mkdtempSync(join(tmpdir(), "crash-runs-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe("crash test: file store", () => {
  it("every run killed with SIGKILL resumes to the uninterrupted run's result; tools never run twice", async () => {
    const report = await CrashDriver.run({
      name: "files",
      store: { module: new URL("./fixtures/fileStore.ts", import.meta.url).href, options: { directory } },
      firstWrites: 16,
      randomKills: 28,
      concurrency: 3
    })
    CrashDriver.print(report)
    CrashDriver.assertReport(report)
  }, 240_000)
})
