/**
 * The flagship, run as `npm start` runs it, against the scripted model: every
 * ticket triaged, the failures the script plays (429, 503, an invented
 * article id, answers that fail validation) recovered and shown, the results
 * file and the drafts written and valid.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { readResults, ticketIds } from "./support/results.ts"
import { doneTickets, run, tempDir } from "./support/spawn.ts"

describe("npm start (triage)", () => {
  it("triages every ticket, shows retries and repairs, writes valid results and drafts", async () => {
    const dir = tempDir("triage")
    const out = join(dir, "out")
    const result = await run("triage", ["--state", join(dir, "state"), "--out", out], {
      env: { SCRIPTED_LATENCY_MS: "20" }
    })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stderr, "")
    const stdout = result.stdout
    // which model, plainly, and how to use a real one
    assert.match(stdout, /^Model: scripted, offline\. The answers come from a script/m)
    assert.match(stdout, /To use a real model: OPENAI_API_KEY=sk-\.\.\. npm start/)
    const runId = /Starting run (triage-\S+): 8 tickets, 3 at a time/.exec(stdout)?.[1]
    assert.isDefined(runId)
    // stdout is a pipe: plain lines, no terminal codes
    assert.notInclude(stdout, "\x1b[")
    // recovery at work, in the progress
    assert.match(stdout, /^T-1002\s+retry 1: rate limited \(429\), waiting \d+ms$/m)
    assert.match(stdout, /^T-1005\s+retry 1: server unavailable \(503\), waiting \d+ms$/m)
    assert.match(stdout, /^T-1003\s+repair: the answer was sent back to the model, it was not valid JSON$/m)
    assert.match(stdout, /^T-1007\s+repair: the answer was sent back to the model, it did not match the Schema$/m)
    assert.match(stdout, /^T-1004\s+tool get_article failed, the model is told: No article "inviting-users"/m)
    assert.deepStrictEqual(doneTickets(stdout).sort(), ticketIds)
    // the summary table
    assert.match(stdout, /^ticket\s+status\s+category\s+priority\s+articles\s+steps\s+tokens\s+cost\s+retries\s+repairs$/m)
    assert.match(stdout, /^T-1001\s+done\s+billing\s+high\s+billing-refunds\s+\d+\s+[\d,]+\s+\$0\.\d+\s+0\s+0$/m)
    assert.match(stdout, /^total\s+8\/8\s+\d+\s+[\d,]+\s+\$0\.\d+\s+3\s+2$/m)
    assert.include(stdout, `Run ${runId} complete.`)

    const results = readResults(out)
    assert.strictEqual(results.runId, runId)
    assert.isTrue(results.complete)
    assert.deepStrictEqual(results.tickets.map((t) => t.id), ticketIds)
    const byId = new Map(results.tickets.map((t) => [t.id, t.triage]))
    assert.deepInclude(byId.get("T-1001"), { category: "billing", priority: "high", articles: ["billing-refunds"], needsHuman: true })
    assert.deepInclude(byId.get("T-1002"), { category: "account", articles: ["login-troubleshooting"] })
    assert.deepInclude(byId.get("T-1004"), { category: "how-to", articles: ["team-members"], needsHuman: false })
    assert.deepInclude(byId.get("T-1008"), { category: "billing", articles: ["tax-vat"] })
    for (const ticket of results.tickets) {
      assert.match(ticket.triage.reply, /^Hi \w+,\n\n[\s\S]+\n\nBest regards,\nAcme Support$/)
      assert.isAbove(ticket.usage.inputTokens, 0)
      assert.isTrue(existsSync(join(out, "drafts", `${ticket.id}.md`)))
    }
    assert.include(readFileSync(join(out, "drafts", "T-1001.md"), "utf8"), "# T-1001: Charged twice for my March invoice")

    // a finished run is not resumed: the next start is a new run
    const again = await run("triage", ["--state", join(dir, "state"), "--out", out], { env: { SCRIPTED_LATENCY_MS: "0" } })
    assert.strictEqual(again.code, 0, again.stderr)
    assert.match(again.stdout, /^Starting run triage-/m)
    assert.notInclude(again.stdout, runId!)
  })

  it("--help explains the flags and the model selection", async () => {
    const result = await run("triage", ["--help"])
    assert.strictEqual(result.code, 0)
    assert.include(result.stdout, "--concurrency N")
    assert.include(result.stdout, "OPENAI_BASE_URL")
  })
})
