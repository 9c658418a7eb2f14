/**
 * The integration server, as a real process answering real HTTP requests:
 * against the scripted model (a triage, bad requests, a budget too small),
 * and against a fake OpenAI server that fails on purpose, to check how each
 * harness error maps onto an HTTP status.
 */
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Net from "node:net"
import { articleIds } from "./support/results.ts"
import { oneLineError, run, start } from "./support/spawn.ts"
import { triageSchema } from "../src/triage/agent.ts"

const startServer = async (env?: Record<string, string>, args: ReadonlyArray<string> = []) => {
  const server = start("server", ["--port", "0", ...args], { env: { SCRIPTED_LATENCY_MS: "10", ...env } })
  const stdout = await server.waitFor((out) => /Listening on (http:\/\/\S+)/.test(out))
  const url = /Listening on (http:\/\/\S+)/.exec(stdout)![1]!
  const post = async (body: unknown, path = "/triage") => {
    const response = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, body: await response.json() as Record<string, unknown> }
  }
  const stop = async () => {
    server.child.kill("SIGTERM")
    return server.exit
  }
  return { url, post, stop, server }
}

const Answer = Schema.Struct({ ticket: Schema.String, triage: triageSchema(articleIds) })

describe("the HTTP server", () => {
  it("triages a ticket through the ManagedRuntime, and answers bad requests with 4xx", async () => {
    const { post, stop, url, server } = await startServer()
    try {
      assert.match(server.stdout(), /^Model: scripted, offline/m)
      const health = await fetch(`${url}/health`)
      assert.strictEqual(health.status, 200)
      assert.deepStrictEqual(await health.json(), { ok: true, model: { provider: "scripted", model: "gpt-4o-mini" } })

      const ok = await post({ subject: "Charged twice", body: "Two charges of $49 for the March invoice, please refund one.", from: "ada@example.com" })
      assert.strictEqual(ok.status, 200, JSON.stringify(ok.body))
      const answer = Schema.decodeUnknownSync(Answer)(ok.body)
      assert.strictEqual(answer.ticket, "REQ-1")
      assert.deepInclude(answer.triage, { ticketId: "REQ-1", category: "billing", articles: ["billing-refunds"] })
      assert.match(answer.triage.reply, /^Hi Ada,/)

      // requests run concurrently on the one runtime
      const many = await Promise.all(["Login fails", "Slow dashboard", "Cancel please"].map((subject, i) =>
        post({ id: `C-${i}`, subject, body: `${subject}: see subject.` })
      ))
      assert.deepStrictEqual(many.map((r) => r.status), [200, 200, 200])
      assert.deepStrictEqual(many.map((r) => r.body.ticket), ["C-0", "C-1", "C-2"])

      assert.deepInclude(await post("{ nope"), { status: 400, body: { error: "InvalidJson", message: "The body is not JSON" } })
      const invalid = await post({ subject: "" })
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual(invalid.body.error, "InvalidTicket")
      const budget = await post({ subject: "Charged twice", body: "Two charges" }, "/triage?maxTokens=200")
      assert.strictEqual(budget.status, 402)
      assert.strictEqual(budget.body.error, "BudgetExceeded")
      assert.strictEqual((await fetch(`${url}/triage`)).status, 405)
      assert.strictEqual((await fetch(`${url}/nowhere`)).status, 404)
    } finally {
      const exit = await stop()
      assert.strictEqual(exit.code, 0)
    }
  })

  it("maps the harness's errors onto HTTP statuses", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      // a provider failing on purpose: the ticket's subject says how
      const fake = yield* FakeOpenAiServer.make({
        fallback: (request) => {
          const subject = /Subject: ([\w-]+)/.exec(JSON.stringify(request.body))?.[1] ?? ""
          switch (subject) {
            case "unauthorized":
              return FakeOpenAiServer.error(401, { message: "Incorrect API key provided", code: "invalid_api_key" })
            case "rate-limited":
              return FakeOpenAiServer.error(429, { message: "Slow down", code: "rate_limit_exceeded", type: "requests" }, {
                "retry-after-ms": "1500"
              })
            case "rate-limited-for-a-day":
              return FakeOpenAiServer.error(429, { message: "Slow down", code: "rate_limit_exceeded", type: "requests" }, {
                "retry-after": "86400"
              })
            case "down":
              return FakeOpenAiServer.error(500, { message: "The server had an error", type: "server_error" })
            case "quota":
              return FakeOpenAiServer.error(429, { message: "You exceeded your current quota", code: "insufficient_quota", type: "insufficient_quota" })
            case "bad-request":
              return FakeOpenAiServer.error(400, { message: "Invalid 'messages'", code: "invalid_value", type: "invalid_request_error" })
            default:
              return FakeOpenAiServer.chatCompletion({ text: "I think this is about billing." })
          }
        }
      })
      const { post, stop } = yield* Effect.promise(() => startServer({ OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "sk-test" }))
      const call = (subject: string) => Effect.promise(() => post({ subject, body: "Something happened." }))

      const unauthorized = yield* call("unauthorized")
      assert.strictEqual(unauthorized.status, 502)
      assert.strictEqual(unauthorized.body.error, "AuthenticationFailed")
      assert.notInclude(String(unauthorized.body.message), "sk-test")

      const limited = yield* call("rate-limited")
      assert.strictEqual(limited.status, 503)
      assert.strictEqual(limited.body.error, "RateLimited")
      assert.strictEqual(limited.headers.get("retry-after"), "2")

      // a provider asking for a day: refused at once (the policy allows 2 s between attempts), its delay passed on
      const before = (yield* fake.requests).length
      const started = Date.now()
      const dayLong = yield* call("rate-limited-for-a-day")
      assert.strictEqual(dayLong.status, 503)
      assert.strictEqual(dayLong.body.error, "RateLimited")
      assert.strictEqual(dayLong.headers.get("retry-after"), "86400")
      assert.strictEqual((yield* fake.requests).length - before, 1)
      assert.isBelow(Date.now() - started, 1500)

      const down = yield* call("down")
      assert.deepInclude(down, { status: 503 })
      assert.strictEqual(down.body.error, "ProviderUnavailable")

      assert.strictEqual((yield* call("quota")).status, 503)
      assert.strictEqual((yield* call("bad-request")).status, 422)

      // prose where JSON is due, every time: the repairs run out
      const garbage = yield* call("garbage")
      assert.strictEqual(garbage.status, 422)
      assert.strictEqual(garbage.body.error, "InvalidOutput")
      assert.include(String(garbage.body.message), "not valid JSON")

      assert.strictEqual((yield* Effect.promise(stop)).code, 0)
    }))))

  it("a body over the limit gets its 413, not a connection reset", async () => {
    const { post, stop, server } = await startServer()
    try {
      // the client is still sending when the server has seen enough: it must read the 413, not EPIPE
      for (const size of [100 * 1024, 1024 * 1024]) {
        const tooLarge = await post(JSON.stringify({ subject: "Big", body: "x".repeat(size) }))
        assert.deepStrictEqual(tooLarge.status, 413)
        assert.deepStrictEqual(tooLarge.body, { error: "BodyTooLarge", message: "The body is over 65536 bytes" })
      }
      await server.waitFor((out) => (out.match(/^POST \/triage 413 \d+ms$/gm) ?? []).length === 2)
    } finally {
      assert.strictEqual((await stop()).code, 0)
    }
  })

  it("a client that goes away is logged as aborted, not 200", async () => {
    // each model call takes 2 s: the client leaves in the middle of the run
    const { url, stop, server } = await startServer({ SCRIPTED_LATENCY_MS: "2000" })
    try {
      const abort = new AbortController()
      const request = fetch(`${url}/triage`, {
        method: "POST",
        body: JSON.stringify({ subject: "Charged twice", body: "Two charges of $49." }),
        signal: abort.signal
      }).then(() => "answered", () => "gone")
      await new Promise((resolve) => setTimeout(resolve, 300))
      abort.abort()
      assert.strictEqual(await request, "gone")
      await server.waitFor((out) => /^POST \/triage aborted \d+ms$/m.test(out))

      // and one that leaves in the middle of its body
      const socket = Net.connect(Number(new URL(url).port), "127.0.0.1")
      socket.write("POST /triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"subj")
      await new Promise((resolve) => setTimeout(resolve, 100))
      socket.destroy()
      await server.waitFor((out) => (out.match(/^POST \/triage aborted \d+ms$/gm) ?? []).length === 2)
      assert.notMatch(server.stdout(), /^POST \/triage (200|500) /m)
      assert.strictEqual(server.stderr(), "")
    } finally {
      assert.strictEqual((await stop()).code, 0)
    }
  })

  it("a body sent too slowly is cut by the request timeout with a 408", async () => {
    const { url, stop, server } = await startServer({}, ["--request-timeout", "500 millis"])
    try {
      // a real client trickling its body: one byte every 50 ms of a 1,000-byte body
      const began = Date.now()
      const socket = Net.connect(Number(new URL(url).port), "127.0.0.1")
      socket.write("POST /triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
      const trickle = setInterval(() => socket.writable && socket.write("x"), 50)
      let response = ""
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        response += chunk
      })
      socket.on("error", () => {})
      await new Promise((resolve) => socket.on("close", resolve))
      clearInterval(trickle)
      const elapsed = Date.now() - began
      assert.match(response, /^HTTP\/1\.1 408 /)
      assert.match(response, /^connection: close\r$/im)
      assert.include(response, `{"error":"RequestTimeout","message":"The request was not received within 500ms"}`)
      assert.isAtLeast(elapsed, 450)
      assert.isBelow(elapsed, 5_000)
      await server.waitFor((out) => /^POST \/triage 408 \d+ms$/m.test(out))
    } finally {
      assert.strictEqual((await stop()).code, 0)
    }
  })

  it("a request timeout that is not a duration: one line, exit 1", async () => {
    const result = await run("server", ["--port", "0", "--request-timeout", "soon"])
    assert.strictEqual(result.code, 1)
    assert.include(oneLineError(result.stderr), `--request-timeout must be a duration such as "30 seconds" or "500 millis", got "soon"`)
  })

  it("a configuration it cannot start with: one line, exit 1", async () => {
    const result = await run("server", ["--port", "0", "--data", "/nonexistent"])
    assert.strictEqual(result.code, 1)
    assert.include(oneLineError(result.stderr), "Cannot read the knowledge-base folder /nonexistent/kb: it does not exist")
  })
})
