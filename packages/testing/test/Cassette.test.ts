import { Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { Cassette, FakeOpenAiServer } from "@effect-harness/testing"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import OpenAI from "openai"
import { openaiRecorded } from "../../../scripts/fixtures.ts"

const fixtures = openaiRecorded

const lastUserContent = (body: unknown) => {
  const messages = (body as { messages: ReadonlyArray<{ content: string }> }).messages
  return messages[messages.length - 1]!.content
}

/**
 * FakeOpenAiServer stands in for the real endpoint: it answers by echoing the
 * last user message, and only to requests that carry the API key.
 */
const upstream = Effect.gen(function*() {
  const server = yield* FakeOpenAiServer.make({
    apiKey: "sk-test-SECRET-key-123",
    fallback: (request) => {
      const text = `echo: ${lastUserContent(request.body)}`
      return (request.body as { stream?: boolean }).stream
        ? FakeOpenAiServer.chatCompletionStream({ text })
        : FakeOpenAiServer.chatCompletion({ text }, { headers: { "x-request-id": "req_1", "retry-after": "1" } })
    }
  })
  return { url: server.url.replace(/\/v1$/, ""), requests: server.requests }
})

const client = (baseURL: string) => new OpenAI({ apiKey: "sk-test-SECRET-key-123", baseURL, maxRetries: 0 })

const ask = (sdk: OpenAI, content: string) =>
  Effect.promise(() =>
    sdk.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
  ).pipe(Effect.map((r) => r.choices[0]!.message.content))

const askStream = (sdk: OpenAI, content: string) =>
  Effect.promise(async () => {
    const stream = await sdk.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content }], stream: true })
    let text = ""
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    return text
  })

const tempDirs: Array<string> = []
const tempFile = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "cassette-"))
  tempDirs.push(dir)
  return Path.join(dir, "cassette.json")
}
afterAll(() => {
  for (const dir of tempDirs) Fs.rmSync(dir, { recursive: true, force: true })
})

const withCassette = <A, E>(options: Cassette.Options, f: (cassette: Cassette.Cassette["Service"]) => Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.service(Cassette.Cassette), f).pipe(Effect.provide(Cassette.layer(options)))

describe("Cassette", () => {
  it.live("records through to the upstream, then replays offline with the same answers", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const server = yield* upstream
      const recorded = yield* withCassette({ path, mode: "record", upstream: server.url }, (cassette) =>
        Effect.gen(function*() {
          const sdk = client(cassette.url)
          return [yield* ask(sdk, "one"), yield* askStream(sdk, "two"), yield* ask(sdk, "three")]
        }))
      assert.deepStrictEqual(recorded, ["echo: one", "echo: two", "echo: three"])
      // the credentials went upstream (it answers only with the right key)...
      assert.strictEqual((yield* server.requests).length, 3)

      // ...but never into the file
      const file = Fs.readFileSync(path, "utf8")
      assert.notInclude(file, "SECRET")
      assert.notInclude(file.toLowerCase(), "authorization")
      assert.notInclude(file, "x-request-id")
      const parsed = JSON.parse(file)
      assert.strictEqual(parsed.interactions.length, 3)
      assert.strictEqual(parsed.interactions[1].response.contentType, "text/event-stream")
      assert.deepStrictEqual(parsed.interactions[0].response.headers, { "retry-after": "1" })

      const replayed = yield* withCassette({ path, mode: "replay", upstream: "http://127.0.0.1:1" }, (cassette) =>
        Effect.gen(function*() {
          const sdk = client(cassette.url)
          return [yield* ask(sdk, "one"), yield* askStream(sdk, "two"), yield* ask(sdk, "three")]
        }))
      assert.deepStrictEqual(replayed, recorded)
      assert.strictEqual((yield* server.requests).length, 3, "replay made no upstream call")
    }).pipe(Effect.scoped))

  it.live("a request that matches nothing fails with a diff against the nearest recorded one", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const server = yield* upstream
      yield* withCassette({ path, mode: "record", upstream: server.url }, (c) => ask(client(c.url), "hello there"))
      const { error, mismatches } = yield* withCassette({ path, mode: "replay" }, (cassette) =>
        Effect.gen(function*() {
          const error = yield* Effect.tryPromise(() =>
            client(cassette.url).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "goodbye" }] })
          ).pipe(Effect.flip)
          return { error, mismatches: yield* cassette.mismatches }
        }))
      assert.strictEqual(mismatches.length, 1)
      assert.include(mismatches[0]!.diff, `-      "content": "hello there",`)
      assert.include(mismatches[0]!.diff, `+      "content": "goodbye",`)
      const cause = (error as { cause?: unknown }).cause ?? error
      assert.strictEqual((cause as { status?: number }).status, 400)
      assert.include(String((cause as Error).message), "no recorded interaction matches POST /v1/chat/completions")
    }).pipe(Effect.scoped))

  it.live("replay-or-record replays what it has and records only the rest", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const server = yield* upstream
      yield* withCassette({ path, mode: "record", upstream: server.url }, (c) => ask(client(c.url), "known"))
      const answers = yield* withCassette({ path, mode: "replay-or-record", upstream: server.url }, (c) =>
        Effect.all([ask(client(c.url), "known"), ask(client(c.url), "new")]))
      assert.deepStrictEqual(answers, ["echo: known", "echo: new"])
      assert.strictEqual((yield* server.requests).length, 2, "only the new request went upstream")
      assert.strictEqual(JSON.parse(Fs.readFileSync(path, "utf8")).interactions.length, 2)
    }).pipe(Effect.scoped))

  it.live("round trip through Harness.prompt and the OpenAI provider: record, then replay with the endpoint gone", () =>
    Effect.gen(function*() {
      const path = tempFile()
      const City = Schema.Struct({ city: Schema.String })
      const ask = Harness.prompt({ name: "city", output: City, render: (q: string) => q }).pipe(Harness.retry())
      const provider = (baseURL: string) =>
        OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
          Layer.provide(OpenAiClient.layer({ apiKey: "sk-test-SECRET-key-123", baseURL }))
        )
      const questions = ["capital of France?", "capital of Peru?"]
      const askAll = (baseURL: string) =>
        Effect.forEach(questions, (q) => Harness.run(ask, q)).pipe(Effect.provide(provider(baseURL)))

      const recorded = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.make({
          apiKey: "sk-test-SECRET-key-123",
          fallback: (request) => {
            const question = String(lastUserContent(request.body))
            return FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ city: question.includes("France") ? "Paris" : "Lima" }) })
          }
        })
        return yield* withCassette(
          { path, mode: "record", upstream: server.url.replace(/\/v1$/, "") },
          (cassette) => askAll(cassette.url)
        )
      }))
      assert.deepStrictEqual(recorded, [{ city: "Paris" }, { city: "Lima" }])
      // the request bodies on file are what the provider sent, structured-output format included
      const file = JSON.parse(Fs.readFileSync(path, "utf8"))
      assert.strictEqual(file.interactions[0].request.body.response_format.type, "json_schema")

      // the upstream is gone: replay answers alone, and the harness decodes the same values
      const replayed = yield* withCassette({ path, mode: "replay", upstream: "http://127.0.0.1:1" }, (cassette) =>
        askAll(cassette.url))
      assert.deepStrictEqual(replayed, recorded)
    }))

  it.effect("replays the recorded OpenAI fixtures: they and cassettes are one format", () =>
    Effect.gen(function*() {
      const path = Path.join(fixtures, "cassettes__test_dbos__test_simple_agent_run_in_workflow.json")
      const recorded = JSON.parse(Fs.readFileSync(path, "utf8")).interactions[0]
      const answer = yield* withCassette({ path, mode: "replay" }, (cassette) =>
        Effect.promise(() => client(cassette.url).chat.completions.create(recorded.request.body)))
      assert.strictEqual((answer as OpenAI.ChatCompletion).choices[0]!.message.content, "The capital of Mexico is Mexico City.")
    }))

  it.effect("replay of a missing file fails with CassetteError naming the file", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Cassette.layer({ path: "/nonexistent/cassette.json", mode: "replay" })))
      assert.strictEqual(error._tag, "CassetteError")
      assert.include(error.message, "record it first")
    }).pipe(Effect.scoped))
})
