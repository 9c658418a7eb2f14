/**
 * `Harness.streamText` on a scripted model: on the provider's `DirectModel`
 * stream, and on the fallbacks (effect's `LanguageModel.streamText` for a
 * provider without a direct stream, `generate` in one piece without a
 * `LanguageModel`).
 */
import { Budget, DirectModel, Harness, HarnessError, Messages } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Schema, Stream } from "effect"
import { LanguageModel, Tool } from "effect/ai"
import { recordingTracer } from "./support/recordingTracer.ts"

const Lookup = Tool.make("lookup", {
  description: "Looks up an order",
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Schema.String
})

const collect = (stream: Stream.Stream<DirectModel.StreamPart, Harness.PromptError, LanguageModel.LanguageModel>) =>
  Effect.map(Stream.runCollect(stream), (parts) => {
    const all = Array.from(parts)
    return {
      parts: all,
      text: all.map((part) => part.type === "text-delta" ? part.delta : "").join(""),
      deltas: all.filter((part) => part.type === "text-delta").length,
      calls: all.flatMap((part) => part.type === "tool-call" ? [{ id: part.id, name: part.name, params: part.params }] : []),
      finish: all.at(-1)
    }
  })

const text = "Paris is the capital of France."

for (const direct of [true, false]) {
  describe(`Harness.streamText (${direct ? "DirectModel stream" : "LanguageModel only"})`, () => {
    it.effect("streams the scripted text, then the finish part with the reason and usage", () =>
      Effect.gen(function*() {
        const result = yield* collect(Harness.streamText({ prompt: "Tell me about Paris" }))
        assert.strictEqual(result.text, text)
        // the direct stream comes one word at a time; effect's streamText in one delta
        assert.strictEqual(result.deltas, direct ? 6 : 1)
        assert.deepStrictEqual(result.finish, {
          type: "finish",
          finishReason: "stop",
          usage: { inputTokens: 12, outputTokens: 7, cachedInputTokens: 0, reasoningTokens: 0 },
          model: undefined
        })
        const [request] = yield* TestModel.requests
        assert.strictEqual(request!.lastUserText, "Tell me about Paris")
      }).pipe(Effect.provide(TestModel.layer([TestModel.text(text, { usage: { inputTokens: 12, outputTokens: 7 } })], { direct }))))

    it.effect("sends the system message and the tools; tool calls come back complete, not run", () =>
      Effect.gen(function*() {
        const result = yield* collect(Harness.streamText({ prompt: "Where is A-1?", instructions: "Be brief.", tools: [Lookup] }))
        assert.deepStrictEqual(result.calls, [{ id: "call_a", name: "lookup", params: { orderId: "A-1" } }])
        assert.strictEqual(result.finish?.type === "finish" ? result.finish.finishReason : "", "tool-calls")
        const [request] = yield* TestModel.requests
        assert.deepStrictEqual(request!.tools, ["lookup"])
        assert.strictEqual(request!.toolChoice, "auto")
        assert.strictEqual(request!.prompt.content[0]!.role, "system")
      }).pipe(Effect.provide(TestModel.layer([TestModel.toolCall("lookup", { orderId: "A-1" }, "call_a")], { direct }))))

    it.effect("fails with the harness's error, as Harness.prompt does", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Stream.runDrain(Harness.streamText({ prompt: "hi" })))
        assert.strictEqual(error._tag, "RateLimited")
        assert.isTrue(HarnessError.isRecoverable(error))
      }).pipe(Effect.provide(TestModel.layer([TestModel.fail(new HarnessError.RateLimited({ message: "slow down" }))], { direct }))))

    it.effect("a content-filter finish fails with ContentRefused after the text that came", () =>
      Effect.gen(function*() {
        const seen: Array<string> = []
        const error = yield* Harness.streamText({ prompt: "hi" }).pipe(
          Stream.runForEach((part) => Effect.sync(() => part.type === "text-delta" && seen.push(part.delta))),
          Effect.flip
        )
        assert.strictEqual(error._tag, "ContentRefused")
        if (error._tag === "ContentRefused") assert.strictEqual(error.refusal, "No comment.")
        assert.strictEqual(seen.join(""), "No comment.")
      }).pipe(Effect.provide(TestModel.layer([TestModel.text("No comment.", { finishReason: "content-filter" })], { direct }))))

    it.effect("records the call and its usage in the Budget of the context", () =>
      Effect.gen(function*() {
        yield* Stream.runDrain(Harness.streamText({ prompt: "hi" }))
        const usage = yield* Budget.usage
        assert.strictEqual(usage.steps, 1)
        assert.strictEqual(usage.inputTokens, 3)
        assert.strictEqual(usage.outputTokens, 2)
      }).pipe(
        Budget.provide(),
        Effect.provide(TestModel.layer([TestModel.text("ok", { usage: { inputTokens: 3, outputTokens: 2 } })], { direct }))
      ))
  })
}

describe("Harness.streamText spans", () => {
  it.effect("a span per stream when a tracer is installed, in the caller's trace", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      yield* Stream.runDrain(Harness.streamText({ prompt: "hi" })).pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), ["Harness.streamText"])
      assert.strictEqual(spans[0]!.attributes.get("gen_ai.operation.name"), "chat")
      // streamed under a span of the caller, the stream's span is its child
      yield* Stream.runDrain(Harness.streamText({ prompt: "hi" })).pipe(Effect.withSpan("request"), Effect.withTracer(tracer))
      const [request, stream] = [spans.find((span) => span.name === "request")!, spans.at(-1)!]
      assert.strictEqual(stream.name, "Harness.streamText")
      assert.isTrue(stream.parent._tag === "Some" && stream.parent.value === request)
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("one"), TestModel.text("two")]))))
})

describe("DirectModel.stream", () => {
  it.effect("a fast path without stream streams through the LanguageModel it is attached to", () =>
    Effect.gen(function*() {
      const { model } = yield* TestModel.make([TestModel.text("from the language model")])
      const generateOnly: DirectModel.DirectModel = { generate: () => Effect.die("generate is not for streams") }
      const context = Context.make(LanguageModel.LanguageModel, DirectModel.attach(model, generateOnly))
      const result = yield* collect(Harness.streamText({ prompt: "hi" })).pipe(Effect.provideContext(context))
      assert.strictEqual(result.text, "from the language model")
      assert.strictEqual(result.finish?.type, "finish")
    }))

  it.effect("a JSON request through the LanguageModel adapter is generated and handed over in one piece", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(DirectModel.stream({
        prompt: Messages.toPrompt("hi"),
        tools: [],
        toolChoice: "none",
        responseFormat: { type: "json", objectName: "city", schema: Schema.Struct({ city: Schema.String }) }
      }))
      assert.deepStrictEqual(Array.from(parts).map((part) => part.type), ["text-delta", "finish"])
      assert.strictEqual((Array.from(parts)[0] as DirectModel.TextDeltaPart).delta, "{\"city\":\"Paris\"}")
      assert.strictEqual((yield* TestModel.requests)[0]!.responseFormat, "json")
    }).pipe(Effect.provide(TestModel.layer([TestModel.jsonAnswer({ city: "Paris" })], { direct: false }))))
})
