/**
 * An agent run streamed through the real `openai` SDK against the fake
 * server, on both APIs: the final answer's words arrive as separate
 * `TextDelta` events while the server is still sending them, tool-call
 * arguments as `ToolCallDelta` events; the run ends as the unstreamed run of
 * the same replies does; a stream cut after some words restarts the step with
 * a `StreamRestarted` event and no word shown twice.
 */
import { Agent, AgentEvent, Durable, RetryPolicy, RunStore } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const Lookup = Tool.make("lookup", {
  description: "Look up an order",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ id: Schema.String, status: Schema.String })
})
const Shop = Toolkit.make(Lookup)
const ShopHandlers = Shop.toLayer({ lookup: ({ id }) => Effect.succeed({ id, status: "shipped" }) })

const retry = RetryPolicy.make({ base: "1 millis", jitter: false })
const shop = Agent.make({ name: "shop", instructions: "You are a shop assistant.", toolkit: Shop, maxSteps: 4, retry })
const talker = Agent.make({ name: "talker", retry })

const answer = "Your order A1 shipped this morning and arrives on Friday."
const call = { id: "call_1", name: "lookup", arguments: { id: "A1" } }

const enqueue = (...replies: ReadonlyArray<FakeOpenAiServer.Reply>) =>
  Effect.flatMap(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) => server.enqueue(...replies))

const requests = Effect.flatMap(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) => server.requests)

const deltasOf = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.filter(AgentEvent.$is("TextDelta"))

for (const api of ["chat", "responses"] as const) {
  const layer = Layer.mergeAll(modelLayer({ model: "gpt-4o-mini", api } as const), ShopHandlers, RunStore.layerMemory)
  const plain = api === "chat" ? FakeOpenAiServer.chatCompletion : FakeOpenAiServer.response
  const streamed = api === "chat" ? FakeOpenAiServer.chatCompletionStream : FakeOpenAiServer.responseStream
  // the chunks before the first word: chat's role chunk; responses' created, in_progress and item added
  const beforeText = api === "chat" ? 1 : 3

  describe(`Agent streaming over the OpenAI SDK (${api})`, () => {
    it.live("the final answer's words arrive as separate TextDelta events while the server sends them, before Finished", () =>
      Effect.gen(function*() {
        yield* enqueue(
          streamed({ toolCalls: [call], usage: { input: 30, output: 9 } }),
          streamed({ text: answer, usage: { input: 50, output: 12 } }, { chunkDelay: "25 millis" })
        )
        const arrivals: Array<number> = []
        const events: Array<AgentEvent.AgentEvent> = []
        yield* Agent.stream(shop, "Where is A1?").pipe(Stream.runForEach((event) =>
          Effect.sync(() => {
            if (event._tag === "TextDelta") arrivals.push(Date.now())
            events.push(event)
          })
        ))
        const deltas = deltasOf(events)
        assert.strictEqual(deltas.map((event) => event.delta).join(""), answer)
        assert.strictEqual(deltas.length, answer.split(" ").length)
        // delivered as they came, 25 ms apart on the wire, not all at the end
        assert.isAtLeast(arrivals.at(-1)! - arrivals[0]!, (deltas.length - 1) * 25 * 0.6)
        const tags = events.map((event) => event._tag)
        assert.isBelow(tags.lastIndexOf("TextDelta"), tags.lastIndexOf("StepFinished"))
        assert.strictEqual(tags.at(-1), "Finished")
        // the tool call's arguments streamed too, and make the call that ran
        const argDeltas = events.filter(AgentEvent.$is("ToolCallDelta"))
        assert.isAbove(argDeltas.length, 0)
        assert.isTrue(argDeltas.every((event) => event.id === "call_1" && event.name === "lookup" && event.step === 1))
        assert.deepStrictEqual(JSON.parse(argDeltas.map((event) => event.delta).join("")), { id: "A1" })
        assert.isBelow(tags.indexOf("ToolCallDelta"), tags.indexOf("ToolCalled"))
        for (const request of yield* requests) assert.strictEqual((request.body as any).stream, true)
      }).pipe(Effect.provide(layer)))

    it.effect("a streamed run ends with the same result, usage and journal as the unstreamed run", () =>
      Effect.gen(function*() {
        const run = (runId: string) =>
          Effect.gen(function*() {
            const result = yield* Durable.run(shop.runDetailed("Where is A1?"), runId)
            const journal = (yield* (yield* RunStore.RunStore).read(runId)).map((record) => record.entry)
            return { result, journal }
          })
        yield* enqueue(plain({ toolCalls: [call], usage: { input: 30, output: 9 } }), plain({ text: answer, usage: { input: 50, output: 12 } }))
        const unstreamed = yield* run("plain")
        yield* enqueue(streamed({ toolCalls: [call], usage: { input: 30, output: 9 } }), streamed({ text: answer, usage: { input: 50, output: 12 } }))
        let result: typeof unstreamed | undefined
        yield* Stream.runDrain(AgentEvent.stream(Effect.tap(run("streamed"), (value) => Effect.sync(() => void (result = value)))))
        assert.deepStrictEqual(result, unstreamed)
        const sent = yield* requests
        assert.deepStrictEqual(sent.map((request) => (request.body as any).stream === true), [false, false, true, true])
        // the same requests besides the stream flags
        const strip = (body: any) => {
          const { stream: _s, stream_options: _o, ...rest } = body
          return rest
        }
        assert.deepStrictEqual(sent.slice(2).map((request) => strip(request.body)), sent.slice(0, 2).map((request) => strip(request.body)))
      }).pipe(Effect.provide(layer)))

    it.live("a stream cut after two words: the step is called again, StreamRestarted discards the two words, none shows twice", () =>
      Effect.gen(function*() {
        yield* enqueue(
          streamed({ text: answer }, { cutAfter: beforeText + 2 }),
          streamed({ text: answer, usage: { input: 50, output: 12 } })
        )
        const events = Array.from(yield* Stream.runCollect(Agent.stream(talker, "Hi")))
        const tags = events.map((event) => event._tag)
        const restart = tags.indexOf("StreamRestarted")
        assert.isAbove(restart, 0)
        assert.strictEqual((events[restart] as AgentEvent.AgentEvent & { _tag: "StreamRestarted" }).discarded, "Your order")
        assert.strictEqual(deltasOf(events.slice(restart)).map((event) => event.delta).join(""), answer)
        assert.strictEqual(tags.filter((tag) => tag === "StreamRestarted").length, 1)
        const retry = events.find(AgentEvent.$is("RetryScheduled"))
        assert.strictEqual(retry?.error._tag, "ConnectionFailed")
        assert.isBelow(tags.indexOf("RetryScheduled"), restart)
        const finished = events.at(-1) as AgentEvent.AgentEvent & { _tag: "Finished" }
        assert.strictEqual(finished.output, answer)
        // the cut attempt's "Your order" (10 characters) counts as 3 estimated output tokens
        assert.strictEqual(finished.usage.outputTokens, 12 + 3)
        assert.strictEqual((yield* requests).length, 2)
      }).pipe(Effect.provide(layer)))
  })
}
