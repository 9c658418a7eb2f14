import { Cassette } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import OpenAI from "openai"

const fixtures = Path.resolve(import.meta.dirname, "../../../../shared/fixtures/openai-recorded")

const completion = (text: string) =>
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-mini",
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: text, refusal: null } }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }
  })

const sse = (text: string) =>
  [
    { choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
    { choices: [{ index: 0, delta: { content: text } }] },
    { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }
  ].map((chunk) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", ...chunk })}\n\n`)
    .join("") + "data: [DONE]\n\n"

/** A stand-in for the real endpoint: answers by echoing the last user message. */
const upstream = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly server: Http.Server; readonly seen: Array<Http.IncomingHttpHeaders> }>(
    (resume) => {
      const seen: Array<Http.IncomingHttpHeaders> = []
      const server = Http.createServer((request, response): void => {
        seen.push(request.headers)
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
          const text = `echo: ${body.messages.at(-1).content}`
          if (body.stream) {
            response.writeHead(200, { "content-type": "text/event-stream" })
            response.end(sse(text))
            return
          } else {
            response.writeHead(200, { "content-type": "application/json", "x-request-id": "req_1", "retry-after": "1" })
            response.end(completion(text))
          }
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, seen })))
    }
  ),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

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

const tempFile = () => Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "cassette-")), "cassette.json")

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
      assert.strictEqual(server.seen.length, 3)
      // the credentials went upstream...
      assert.strictEqual(server.seen[0]!.authorization, "Bearer sk-test-SECRET-key-123")

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
      assert.strictEqual(server.seen.length, 3, "replay made no upstream call")
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
      assert.strictEqual(server.seen.length, 2, "only the new request went upstream")
      assert.strictEqual(JSON.parse(Fs.readFileSync(path, "utf8")).interactions.length, 2)
    }).pipe(Effect.scoped))

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
