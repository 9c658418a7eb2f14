/**
 * The direct stream (`DirectModel.stream`, `Harness.streamText`) over real
 * HTTP to the fake server, on both APIs: text, reasoning and tool calls
 * assembled, finish reason, usage and model id; a network read's events in
 * one pull; interruption and early stops abort the request, a complete
 * answer does not; a cut mid-way fails with `ConnectionFailed` and the text
 * received. No sleeps: the tests wait on the server's own events.
 */
import { DirectModel, Harness, HarnessError, Messages } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Tool } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const GetWeather = Tool.make("get_weather", {
  description: "The weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})

const server = FakeOpenAiServer.FakeOpenAiServer

const enqueue = (...replies: ReadonlyArray<FakeOpenAiServer.Reply>) =>
  Effect.flatMap(Effect.service(server), (server) => server.enqueue(...replies))

const abortedFlags = Effect.map(Effect.flatMap(Effect.service(server), (server) => server.requests), (requests) =>
  requests.map((request) => request.aborted))

const textOf = (parts: ReadonlyArray<DirectModel.StreamPart>) =>
  parts.map((part) => part.type === "text-delta" ? part.delta : "").join("")

const text = "Paris is the capital and largest city of France, on the Seine."

// Moves the TestClock by `step` until the fiber ends (at most `steps` times),
// letting the event loop run between steps; the virtual time it ended at.
const advanceUntilDone = <A, E>(fiber: Fiber.Fiber<A, E>, step: number, steps: number) =>
  Effect.gen(function*() {
    for (let i = 1; i <= steps; i++) {
      yield* TestClock.adjust(step)
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      if (fiber.pollUnsafe() !== undefined) return i * step
    }
    return undefined
  })

for (const api of ["chat", "responses"] as const) {
  const layer = modelLayer({ model: "gpt-4o-mini", api } as const)
  const streamed = api === "chat" ? FakeOpenAiServer.chatCompletionStream : FakeOpenAiServer.responseStream
  const events = api === "chat" ? FakeOpenAiServer.chatCompletionChunks : FakeOpenAiServer.responseEvents

  describe(`direct stream (${api})`, () => {
    it.effect("streams the text as it was sent, then the finish reason, usage and model id", () =>
      Effect.gen(function*() {
        yield* enqueue(streamed({ text, usage: { input: 42, output: 17, cached: 8, reasoning: 5 } }))
        const parts = Array.from(yield* Stream.runCollect(Harness.streamText({ prompt: "Tell me about Paris" })))
        assert.strictEqual(textOf(parts), text)
        // one delta per word the server sent: the text really streamed
        assert.strictEqual(parts.filter((part) => part.type === "text-delta").length, text.split(" ").length)
        assert.deepStrictEqual(parts.at(-1), {
          type: "finish",
          finishReason: "stop",
          usage: { inputTokens: 42, outputTokens: 17, cachedInputTokens: 8, reasoningTokens: 5 },
          model: "gpt-4o-mini-2024-07-18"
        })
        const [request] = yield* Effect.flatMap(Effect.service(server), (server) => server.requests)
        assert.strictEqual((request!.body as any).stream, true)
      }).pipe(Effect.provide(layer)))

    it.effect("tool calls come complete, with parsed arguments, and the finish reason says so", () =>
      Effect.gen(function*() {
        yield* enqueue(streamed({
          text: "Let me check.",
          toolCalls: [
            { id: "call_1", name: "get_weather", arguments: { city: "San Francisco, California" } },
            { id: "call_2", name: "get_weather", arguments: { city: "Paris" } }
          ]
        }))
        const parts = Array.from(yield* Stream.runCollect(Harness.streamText({ prompt: "Weather?", tools: [GetWeather] })))
        assert.strictEqual(textOf(parts), "Let me check.")
        assert.deepStrictEqual(parts.filter((part) => part.type === "tool-call"), [
          { type: "tool-call", id: "call_1", name: "get_weather", params: { city: "San Francisco, California" } },
          { type: "tool-call", id: "call_2", name: "get_weather", params: { city: "Paris" } }
        ])
        const finish = parts.at(-1)
        assert.strictEqual(finish?.type === "finish" ? finish.finishReason : undefined, "tool-calls")
        const [request] = yield* Effect.flatMap(Effect.service(server), (server) => server.requests)
        const tools = (request!.body as any).tools
        assert.strictEqual(tools.length, 1)
        assert.strictEqual(api === "chat" ? tools[0].function.name : tools[0].name, "get_weather")
      }).pipe(Effect.provide(layer)))

    it.effect("the events of one network read come in one pull", () =>
      Effect.gen(function*() {
        // the whole body in one write: a single read on the client
        const body = (streamed({ text }).body as ReadonlyArray<string>).join("")
        yield* enqueue({ contentType: "text/event-stream", body })
        let pulls = 0
        const parts = yield* Harness.streamText({ prompt: "Tell me about Paris" }).pipe(
          Stream.mapArray((parts) => {
            pulls++
            return parts
          }),
          Stream.runCollect
        )
        assert.strictEqual(textOf(Array.from(parts)), text)
        assert.isAbove(parts.length, 12)
        assert.isAtMost(pulls, 2)
      }).pipe(Effect.provide(layer)))

    it.effect("interrupting the stream mid-way aborts the request", () =>
      Effect.gen(function*() {
        // a few chunks, then the server holds the connection open
        yield* enqueue({ ...streamed({ text: "one two three four five six" }), stallAfter: api === "chat" ? 3 : 5 })
        const firstDelta = yield* Deferred.make<string>()
        const fiber = yield* Effect.forkChild(
          Harness.streamText({ prompt: "Count" }).pipe(
            Stream.runForEach((part) => part.type === "text-delta" ? Deferred.succeed(firstDelta, part.delta) : Effect.void)
          )
        )
        assert.strictEqual(yield* Deferred.await(firstDelta), "one")
        yield* Fiber.interrupt(fiber)
        yield* Effect.flatMap(Effect.service(server), (server) => server.awaitAborted(1))
        assert.deepStrictEqual(yield* abortedFlags, [true])
      }).pipe(Effect.provide(layer)))

    it.effect("stopping early (Stream.take) aborts the request", () =>
      Effect.gen(function*() {
        yield* enqueue({ ...streamed({ text: "one two three four five six" }), stallAfter: api === "chat" ? 3 : 5 })
        const first = yield* Stream.runCollect(Stream.take(Harness.streamText({ prompt: "Count" }), 1))
        assert.deepStrictEqual(Array.from(first), [{ type: "text-delta", delta: "one" }])
        yield* Effect.flatMap(Effect.service(server), (server) => server.awaitAborted(1))
        assert.deepStrictEqual(yield* abortedFlags, [true])
      }).pipe(Effect.provide(layer)))

    it.effect("a stream cut mid-way fails with ConnectionFailed, keeping the text and tool calls received", () =>
      Effect.gen(function*() {
        const reply = streamed({
          text: "The weather in Paris is sunny",
          toolCalls: [{ id: "call_a", name: "get_weather", arguments: { city: "Paris" } }]
        })
        const chunks = reply.body as ReadonlyArray<string>
        // cut after the text and the tool call's arguments, before the response says it is complete
        const cut = chunks.findIndex((chunk) =>
          chunk.includes(api === "chat" ? "\"finish_reason\":\"tool_calls\"" : "\"type\":\"response.completed\"")
        )
        yield* enqueue({ ...reply, cutAfter: cut })
        const received: Array<DirectModel.StreamPart> = []
        const error = yield* Harness.streamText({ prompt: "Weather?", tools: [GetWeather] }).pipe(
          Stream.runForEach((part) => Effect.sync(() => received.push(part))),
          Effect.flip
        )
        assert.strictEqual(error._tag, "ConnectionFailed")
        if (error._tag !== "ConnectionFailed") return
        assert.isTrue(HarnessError.isRecoverable(error))
        assert.strictEqual(error.partial?.text, "The weather in Paris is sunny")
        assert.deepStrictEqual(error.partial?.toolCalls, [{ id: "call_a", name: "get_weather", params: { city: "Paris" } }])
        // what was streamed before the cut is the partial text
        assert.strictEqual(textOf(received), "The weather in Paris is sunny")
      }).pipe(Effect.provide(layer)))

    for (const [label, client, idle] of [
      ["default (60 s)", {}, 60_000],
      ["streamIdleTimeout: 2 seconds", { streamIdleTimeout: "2 seconds" }, 2_000]
    ] as const) {
      it.effect(`a stream that stalls after its first chunks fails with a recoverable Timeout keeping the text, and is aborted: ${label}`, () =>
        Effect.gen(function*() {
          // the headers and a few chunks, then the server holds the connection open
          yield* enqueue({ ...streamed({ text: "one two three four five six" }), stallAfter: api === "chat" ? 3 : 5 })
          const received: Array<DirectModel.StreamPart> = []
          const first = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(
            Harness.streamText({ prompt: "Count" }).pipe(
              Stream.runForEach((part) =>
                Effect.andThen(Effect.sync(() => received.push(part)), Deferred.succeed(first, undefined))
              ),
              Effect.flip
            )
          )
          yield* Deferred.await(first)
          // virtual time, in steps of a 20th of the limit: nothing fails before the limit
          const endedAt = yield* advanceUntilDone(fiber, idle / 20, 30)
          assert.isDefined(endedAt, "the stalled stream never ended")
          assert.isAtLeast(endedAt!, idle)
          assert.isAtMost(endedAt!, idle + idle / 10)
          const error = yield* Fiber.join(fiber)
          assert.strictEqual(error._tag, "Timeout")
          if (error._tag !== "Timeout") return
          assert.isTrue(HarnessError.isRecoverable(error))
          assert.strictEqual(error.partial?.text, textOf(received))
          assert.isTrue(error.partial!.text.startsWith("one"))
          yield* Effect.flatMap(Effect.service(server), (server) => server.awaitAborted(1))
          assert.deepStrictEqual(yield* abortedFlags, [true])
        }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const, client))))
    }

    it.effect("a complete answer is not aborted, even before the body ends", () =>
      Effect.gen(function*() {
        // every event sent, then the connection held open: the answer is
        // complete at `[DONE]` (chat) or `response.completed` (responses)
        const reply = streamed({ text: "all of it" })
        yield* enqueue({ ...reply, stallAfter: (reply.body as ReadonlyArray<string>).length }, streamed({ text: "next" }))
        const parts = yield* Stream.runCollect(Harness.streamText({ prompt: "First" }))
        assert.strictEqual(textOf(Array.from(parts)), "all of it")
        // the next call has an answer only after the first was released
        assert.strictEqual(textOf(Array.from(yield* Stream.runCollect(Harness.streamText({ prompt: "Second" })))), "next")
        assert.deepStrictEqual(yield* abortedFlags, [false, false])
      }).pipe(Effect.provide(layer)))

    it.effect("errors before the stream starts map as for plain calls", () =>
      Effect.gen(function*() {
        yield* enqueue(FakeOpenAiServer.error(429, { message: "Slow down", type: "requests", code: "rate_limit_exceeded" }))
        const error = yield* Effect.flip(Stream.runDrain(Harness.streamText({ prompt: "hi" })))
        assert.strictEqual(error._tag, "RateLimited")
      }).pipe(Effect.provide(layer)))

    it.effect("a refusal fails with ContentRefused carrying the model's words", () =>
      Effect.gen(function*() {
        const refusal = "I'm sorry, I can't help with that."
        yield* enqueue(streamed({ refusal }))
        const error = yield* Effect.flip(Stream.runDrain(Harness.streamText({ prompt: "hi" })))
        assert.strictEqual(error._tag, "ContentRefused")
        if (error._tag === "ContentRefused") assert.strictEqual(error.refusal, refusal)
      }).pipe(Effect.provide(layer)))

    if (api === "responses") {
      it.effect("reasoning summaries stream as reasoning deltas", () =>
        Effect.gen(function*() {
          const all = events({ text: "42" })
          const reasoning = { id: "rs_1", type: "reasoning", summary: [], encrypted_content: null }
          const summary = (delta: string) => ({ type: "response.reasoning_summary_text.delta", item_id: "rs_1", summary_index: 0, delta })
          yield* enqueue(FakeOpenAiServer.sse([
            ...all.slice(0, 2),
            { type: "response.output_item.added", output_index: 0, item: reasoning },
            { type: "response.reasoning_summary_part.added", item_id: "rs_1", output_index: 0, summary_index: 0 },
            summary("Thinking "),
            summary("hard."),
            { type: "response.output_item.done", output_index: 0, item: reasoning },
            ...all.slice(2)
          ], { named: true }))
          const parts = Array.from(yield* Stream.runCollect(Harness.streamText({ prompt: "The answer?" })))
          assert.deepStrictEqual(parts.filter((part) => part.type === "reasoning-delta").map((part) => part.delta), [
            "Thinking ",
            "hard."
          ])
          assert.strictEqual(textOf(parts), "42")
        }).pipe(Effect.provide(layer)))
    }
  })
}

describe("direct stream through DirectModel", () => {
  it.effect("a JSON request streams the answer's text", () =>
    Effect.gen(function*() {
      yield* enqueue(FakeOpenAiServer.chatCompletionStream({ text: "{\"city\":\"Paris\"}" }))
      const parts = yield* Stream.runCollect(DirectModel.stream({
        prompt: Messages.toPrompt("Which city?"),
        tools: [],
        toolChoice: "none",
        responseFormat: { type: "json", objectName: "city", schema: Schema.Struct({ city: Schema.String }) }
      }))
      assert.strictEqual(textOf(Array.from(parts)), "{\"city\":\"Paris\"}")
      const [request] = yield* Effect.flatMap(Effect.service(server), (server) => server.requests)
      assert.strictEqual((request!.body as any).response_format.type, "json_schema")
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))
})
