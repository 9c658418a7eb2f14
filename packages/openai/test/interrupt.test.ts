/**
 * Interrupting a call aborts its HTTP request: the fake server sees the
 * client close the connection before the reply was complete. No sleeps: the
 * test waits on the server's own events.
 */
import { DirectModel, Harness, Messages } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { LanguageModel } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const aborted = Effect.gen(function*() {
  const server = yield* FakeOpenAiServer.FakeOpenAiServer
  yield* server.awaitAborted(1)
  const requests = yield* server.requests
  return requests.map((request) => request.aborted)
})

for (const api of ["chat", "responses"] as const) {
  const layer = modelLayer({ model: "gpt-4o-mini", api } as const)
  const plain = api === "chat" ? FakeOpenAiServer.chatCompletion : FakeOpenAiServer.response
  const streamed = api === "chat" ? FakeOpenAiServer.chatCompletionStream : FakeOpenAiServer.responseStream

  describe(`interruption (${api})`, () => {
    it.effect("interrupting generateText aborts the request", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        // the answer would come after 30 s; the test never waits for it
        yield* server.enqueue(plain({ text: "too late" }, { delay: "30 seconds" }))
        const fiber = yield* Effect.forkChild(LanguageModel.generateText({ prompt: "Hello" }))
        yield* server.awaitRequests(1)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* aborted, [true])
      }).pipe(Effect.provide(layer)))

    it.effect("interrupting a DirectModel call aborts the request", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        yield* server.enqueue(plain({ text: "too late" }, { delay: "30 seconds" }))
        const direct = yield* DirectModel.current
        const fiber = yield* Effect.forkChild(
          direct.generate({ prompt: Messages.toPrompt("Hello"), tools: [], toolChoice: "none", responseFormat: { type: "text" } })
        )
        yield* server.awaitRequests(1)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* aborted, [true])
      }).pipe(Effect.provide(layer)))

    it.effect("interrupting a stream mid-way aborts the request", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        // three chunks, then the server holds the connection open
        yield* server.enqueue({ ...streamed({ text: "one two three four five six" }), stallAfter: 4 })
        const firstDelta = yield* Deferred.make<string>()
        const fiber = yield* Effect.forkChild(
          LanguageModel.streamText({ prompt: "Hello" }).pipe(
            Stream.runForEach((part) => part.type === "text-delta" ? Deferred.succeed(firstDelta, part.delta) : Effect.void)
          )
        )
        assert.strictEqual(yield* Deferred.await(firstDelta), "one")
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* aborted, [true])
      }).pipe(Effect.provide(layer)))
  })
}

describe("interruption through a harness", () => {
  it.effect("interrupting a Harness.prompt run aborts the request", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: "too late" }, { delay: "30 seconds" }))
      const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })
      const fiber = yield* Effect.forkChild(Harness.run(ask, "Hello"))
      yield* server.awaitRequests(1)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(yield* aborted, [true])
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))
})
