import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import OpenAI from "openai"
import { openaiRecorded } from "../../../scripts/fixtures.ts"

const fixtures = openaiRecorded

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-secret", ...headers },
      body: JSON.stringify(body)
    }).then(async (response) => ({ status: response.status, text: await response.text() }))
  )

const sdk = (url: string) => new OpenAI({ apiKey: "sk-test", baseURL: url, maxRetries: 0 })

describe("FakeOpenAiServer", () => {
  it.effect("answers from the script in order and records the requests without credentials", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.jsonResponse({ n: 1 }), FakeOpenAiServer.jsonResponse({ n: 2 }, { status: 201 }))
      const first = yield* post(server.url, { model: "m", messages: [] }, { "x-trace": "t1" })
      const second = yield* post(server.url, { model: "m2" })
      const third = yield* post(server.url, {})
      assert.deepStrictEqual([first.status, JSON.parse(first.text)], [200, { n: 1 }])
      assert.deepStrictEqual([second.status, JSON.parse(second.text)], [201, { n: 2 }])
      // an unscripted request is a visible failure, not a hang
      assert.strictEqual(third.status, 500)
      assert.include(JSON.parse(third.text).error.message, "no scripted reply for request 3")
      const requests = yield* server.requests
      assert.deepStrictEqual(requests.map((r) => [r.method, r.path, r.body]), [
        ["POST", "/v1/chat/completions", { model: "m", messages: [] }],
        ["POST", "/v1/chat/completions", { model: "m2" }],
        ["POST", "/v1/chat/completions", {}]
      ])
      assert.strictEqual(requests[0]!.headers["x-trace"], "t1")
      assert.isUndefined(requests[0]!.headers.authorization)
      assert.strictEqual(yield* server.pending, 0)
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("built bodies are what the SDK reads: completion, chunks, response, events", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      const input = { text: "Hello there, world", toolCalls: [{ id: "call_x", name: "f", arguments: { a: 1 } }] }
      yield* server.enqueue(
        FakeOpenAiServer.chatCompletion(input),
        FakeOpenAiServer.chatCompletionStream(input),
        FakeOpenAiServer.response(input),
        FakeOpenAiServer.responseStream(input)
      )
      const client = sdk(server.url)
      const completion = yield* Effect.promise(() => client.chat.completions.create({ model: "m", messages: [] }))
      assert.strictEqual(completion.choices[0]!.message.content, "Hello there, world")
      assert.strictEqual(completion.choices[0]!.finish_reason, "tool_calls")
      const chunks = yield* Effect.promise(async () => {
        const out: Array<OpenAI.Chat.ChatCompletionChunk> = []
        for await (const chunk of await client.chat.completions.create({ model: "m", messages: [], stream: true })) out.push(chunk)
        return out
      })
      assert.strictEqual(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), "Hello there, world")
      assert.strictEqual(
        chunks.map((c) => c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? "").join(""),
        "{\"a\":1}"
      )
      assert.isDefined(chunks.at(-1)!.usage)
      const response = yield* Effect.promise(() => client.responses.create({ model: "m", input: "hi" }))
      assert.strictEqual(response.output_text, "Hello there, world")
      const events = yield* Effect.promise(async () => {
        const out: Array<string> = []
        for await (const event of await client.responses.create({ model: "m", input: "hi", stream: true })) out.push(event.type)
        return out
      })
      assert.strictEqual(events.at(-1), "response.completed")
      assert.include(events, "response.function_call_arguments.delta")
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("replays a recorded interaction byte for byte, and checks its path", () =>
    Effect.gen(function*() {
      const file = JSON.parse(
        Fs.readFileSync(Path.join(fixtures, "models__cassettes__test_openai__test_run_stream_sync_streams_real_model.json"), "utf8")
      )
      const interaction = file.interactions[0]
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.fromInteraction(interaction), FakeOpenAiServer.fromInteraction(interaction))
      const raw = yield* Effect.promise(() =>
        fetch(`${server.url}/chat/completions`, { method: "POST", body: "{}" }).then((r) => r.text())
      )
      assert.strictEqual(raw, interaction.response.body)
      const wrongPath = yield* Effect.promise(() =>
        fetch(`${server.url}/responses`, { method: "POST", body: "{}" }).then((r) => r.status)
      )
      assert.strictEqual(wrongPath, 400)
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("cutAfter breaks the stream after N chunks; reset drops the connection", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(
        { ...FakeOpenAiServer.chatCompletionStream({ text: "a b c d e f" }), cutAfter: 3 },
        { reset: true }
      )
      const client = sdk(server.url)
      const cut = yield* Effect.promise(async () => {
        let text = ""
        try {
          for await (const chunk of await client.chat.completions.create({ model: "m", messages: [], stream: true })) {
            text += chunk.choices[0]?.delta.content ?? ""
          }
          return { text, failed: false }
        } catch {
          return { text, failed: true }
        }
      })
      assert.deepStrictEqual(cut, { text: "a b", failed: true })
      const reset = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "m", messages: [] }).then(() => "answered", (e) => e.constructor.name)
      )
      assert.strictEqual(reset, "APIConnectionError")
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("a client that gives up is seen: awaitAborted, and the request marked aborted", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.jsonResponse({}, { delay: "30 seconds" }), FakeOpenAiServer.jsonResponse({ ok: true }))
      const controller = new AbortController()
      const pending = fetch(`${server.url}/chat/completions`, { method: "POST", body: "{}", signal: controller.signal })
        .catch(() => "aborted")
      yield* server.awaitRequests(1)
      controller.abort()
      yield* server.awaitAborted(1)
      assert.strictEqual(yield* Effect.promise(() => pending), "aborted")
      const ok = yield* post(server.url, {})
      assert.strictEqual(ok.status, 200)
      assert.deepStrictEqual((yield* server.requests).map((r) => r.aborted), [true, false])
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("with apiKey, requests without the right bearer token get OpenAI's 401", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.jsonResponse({ ok: true }))
      const wrong = yield* post(server.url, {}, { authorization: "Bearer sk-wrong" })
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(JSON.parse(wrong.text).error.code, "invalid_api_key")
      const right = yield* post(server.url, {})
      assert.strictEqual(right.status, 200)
    }).pipe(Effect.provide(FakeOpenAiServer.layer({ apiKey: "sk-secret" }))))
})
