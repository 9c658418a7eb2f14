/**
 * The server's live view (issue 15 item 4), as a real server process: its
 * server-sent events over HTTP (ids, resuming from Last-Event-ID), and its
 * page in a real browser (playwright-core driving Debian's Chromium) against
 * the scripted model streaming slowly: the text grows on screen before the
 * run ends, and a reload mid-run reconnects and ends with the complete,
 * unduplicated answer.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync } from "node:fs"
import { type BrowserContext, chromium } from "playwright-core"
import { start, tempDir } from "./support/spawn.ts"

const chromiumPath = "/usr/bin/chromium"

interface Frame {
  readonly id: number | undefined
  readonly event: string
  readonly data: Record<string, unknown>
}

const parseFrames = (text: string): Array<Frame> =>
  text.split("\n\n").filter((frame) => frame.trim() !== "").map((frame) => {
    let id: number | undefined
    let event = "message"
    let data = ""
    for (const line of frame.split("\n")) {
      if (line.startsWith("id: ")) id = Number(line.slice(4))
      else if (line.startsWith("event: ")) event = line.slice(7)
      else if (line.startsWith("data: ")) data += line.slice(6)
    }
    return { id, event, data: JSON.parse(data) as Record<string, unknown> }
  })

const startServer = async (env: Record<string, string> = {}) => {
  const server = start("server", ["--port", "0", "--runs", tempDir("runs")], {
    env: { SCRIPTED_LATENCY_MS: "10", ...env }
  })
  const stdout = await server.waitFor((out) => /Listening on (http:\/\/\S+)/.test(out))
  const url = /Listening on (http:\/\/\S+)/.exec(stdout)![1]!
  const stop = async () => {
    server.child.kill("SIGTERM")
    return server.exit
  }
  return { url, stop, server }
}

const ticket = { subject: "Charged twice", body: "Two charges of $49 for the March invoice, please refund one." }

describe("the server's live view", () => {
  it("streams a run as server-sent events with sequence ids, and resumes from Last-Event-ID", async () => {
    const { stop, url } = await startServer()
    try {
      const response = await fetch(`${url}/triage`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(ticket)
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
      const runId = response.headers.get("x-run-id")!
      assert.match(runId, /^triage-REQ-1-/)
      const frames = parseFrames(await response.text())
      const recorded = frames.filter((frame) => "sequence" in frame.data)
      // every recorded event once, in order, its id its sequence
      assert.deepStrictEqual(recorded.map((frame) => frame.id), recorded.map((_, i) => i))
      assert.deepStrictEqual(recorded.map((frame) => frame.data.sequence), recorded.map((_, i) => i))
      assert.deepStrictEqual(recorded.at(-1)?.data, { _tag: "Status", sequence: recorded.length - 1, status: "completed" })
      assert.deepStrictEqual(frames.slice(-2).map((frame) => frame.event), ["result", "end"])
      const result = frames.at(-2)!.data as { readonly ticket: string; readonly triage: { readonly ticketId: string } }
      assert.strictEqual(result.triage.ticketId, "REQ-1")
      // tool calls and their results went by
      assert.isTrue(frames.some((frame) => frame.event === "ToolStep" && frame.data.name === "search_kb"))

      const resumed = await fetch(`${url}/runs/${encodeURIComponent(runId)}/events`, { headers: { "last-event-id": "3" } })
      assert.strictEqual(resumed.status, 200)
      const again = parseFrames(await resumed.text())
      assert.deepStrictEqual(again.filter((frame) => "sequence" in frame.data), recorded.slice(4))
      assert.deepStrictEqual(again.slice(-2).map((frame) => frame.event), ["result", "end"])

      assert.strictEqual((await fetch(`${url}/runs/nope/events`)).status, 404)
      const page = await fetch(url)
      assert.strictEqual(page.headers.get("content-type"), "text/html; charset=utf-8")
      assert.match(await page.text(), /<title>Triage, live<\/title>/)
    } finally {
      assert.strictEqual((await stop()).code, 0)
    }
  }, 60_000)

  it("in Chromium, the reply grows word by word before the run ends, and a reload mid-run ends with the whole answer once", async () => {
    assert.isTrue(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (.ci/run does it)`)
    // the scripted model streams its answers slowly, so that the text visibly grows
    const { stop, url } = await startServer({ SCRIPTED_LATENCY_MS: "50", SCRIPTED_CHUNK_DELAY_MS: "60" })
    let browser: BrowserContext | undefined
    try {
      // a fresh profile (playwright passes it as --user-data-dir)
      browser = await chromium.launchPersistentContext(tempDir("chromium"), {
        executablePath: chromiumPath,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-quic",
          "--no-first-run",
          "--disable-component-update",
          "--disable-sync"
        ]
      })
      const page = await browser.newPage()
      await page.goto(url)

      // 1. the text grows on screen while the run goes on
      await page.click("#send")
      const lengths: Array<number> = []
      for (;;) {
        const [live, status] = await Promise.all([page.textContent("#live"), page.textContent("#status")])
        if (status === "done" || status === "failed") break
        if (live !== null && live.length > 0 && live.length !== lengths.at(-1)) lengths.push(live.length)
        await page.waitForTimeout(20)
      }
      assert.strictEqual(await page.textContent("#status"), "done", (await page.textContent("#result")) ?? "")
      assert.isAtLeast(lengths.length, 3, `the live text took these lengths before the end: ${lengths.join(", ")}`)
      const whole = JSON.parse((await page.textContent("#result"))!) as { readonly ticketId: string }
      assert.strictEqual(whole.ticketId, "REQ-1")

      // 2. a reload mid-run, while the answer is being written
      await page.fill("#subject", "Login fails")
      await page.fill("#body", "I cannot log in since this morning: the page says my password is wrong.")
      await page.click("#send")
      await page.waitForFunction("(document.getElementById('live')?.textContent ?? '').length > 0")
      const before = await page.textContent("#status")
      assert.notStrictEqual(before, "done")
      await page.reload()
      await page.waitForFunction("document.getElementById('status')?.textContent === 'done'", undefined, { timeout: 30_000 })
      const triage = JSON.parse((await page.textContent("#result"))!) as { readonly ticketId: string }
      assert.strictEqual(triage.ticketId, "REQ-2")
      // every recorded step drawn once
      const drawn = await page.$$eval("#log li[data-seq]", (items) => items.map((item) => item.getAttribute("data-seq")))
      const answers = await page.$$eval("#log li.answer", (items) => items.map((item) => item.textContent ?? ""))
      const steps = new Set(drawn)
      assert.isAbove(steps.size, 3)
      assert.strictEqual(answers.length, new Set(answers).size, answers.join("\n"))
      // the final answer, drawn once and whole, is the result's JSON
      assert.deepStrictEqual(JSON.parse(answers.at(-1)!), triage)
      assert.strictEqual(await page.textContent("#live"), "")
    } finally {
      await browser?.close()
      assert.strictEqual((await stop()).code, 0)
    }
  }, 120_000)
})
