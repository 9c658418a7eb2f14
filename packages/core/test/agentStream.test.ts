/**
 * Token streaming through the agent loop: with a listener, each model step
 * streams and the run emits its deltas before the step's end, and the run
 * ends as the same unstreamed run does (result, requests, journal); a stream
 * broken after some words restarts the step and says so; a filtered answer
 * fails where it stands. Through the scripted model's fast path and through
 * effect's `LanguageModel` (no fast path). The OpenAI APIs over HTTP are in
 * packages/openai/test/agentStream.test.ts.
 */
import { Agent, AgentEvent, Budget, Durable, HarnessError, RetryPolicy, RunStore } from "@effect-harness/core"
import { FaultInjection, TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"

const Lookup = Tool.make("lookup", {
  description: "Look up an order",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ id: Schema.String, status: Schema.String })
})
const Shop = Toolkit.make(Lookup)
const ShopHandlers = Shop.toLayer({ lookup: ({ id }) => Effect.succeed({ id, status: "shipped" }) })

const shop = Agent.make({ name: "shop", instructions: "You are a shop assistant.", toolkit: Shop, maxSteps: 4 })

const answer = "Your order A1 shipped this morning."
const script = () => [TestModel.toolCall("lookup", { id: "A1" }, "c1"), TestModel.text(answer)]

const deltasOf = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.filter(AgentEvent.$is("TextDelta"))

// A run to compare: its result, the requests the model received, its journal.
const observed = <A, E, R>(run: Effect.Effect<A, E, R>, runId: string) =>
  Effect.gen(function*() {
    const result = yield* Durable.run(run, runId)
    const requests = (yield* TestModel.requests).map((request) => ({
      prompt: request.prompt.content,
      tools: request.tools,
      toolChoice: request.toolChoice
    }))
    const journal = (yield* (yield* RunStore.RunStore).read(runId)).map((record) => record.entry)
    return { result, requests, journal }
  })

for (const direct of [true, false]) {
  const model = (replies: Array<TestModel.Reply>) =>
    Layer.mergeAll(TestModel.layer(replies, { direct }), ShopHandlers, RunStore.layerMemory)
  const path = direct ? "fast path" : "LanguageModel without a fast path"

  describe(`Agent streaming (${path})`, () => {
    it.effect("the final answer's words arrive as TextDelta events before the step ends and the run finishes", () =>
      Effect.gen(function*() {
        const events = Array.from(yield* Stream.runCollect(Agent.stream(shop, "Where is A1?")))
        const deltas = deltasOf(events)
        assert.strictEqual(deltas.map((event) => event.delta).join(""), answer)
        // the fast path streams word by word; effect's streamText gives the scripted text part as one delta
        assert.strictEqual(deltas.length, direct ? answer.split(" ").length : 1)
        assert.isTrue(deltas.every((event) => event.step === 2 && event.agent === "shop"))
        const tags = events.map((event) => event._tag)
        const first = tags.indexOf("TextDelta")
        assert.isTrue(first > tags.lastIndexOf("StepStarted"))
        assert.isTrue(tags.lastIndexOf("TextDelta") < tags.lastIndexOf("StepFinished"))
        assert.strictEqual(tags.at(-1), "Finished")
      }).pipe(Effect.provide(model(script()))))

    it.effect("a streamed run ends with the same result, requests, usage and journal as an unstreamed one", () =>
      Effect.gen(function*() {
        const plain = yield* observed(shop.runDetailed("Where is A1?"), "plain").pipe(Effect.provide(model(script())))
        let streamed: typeof plain | undefined
        const events = yield* Stream.runCollect(AgentEvent.stream(
          Effect.tap(observed(shop.runDetailed("Where is A1?"), "streamed"), (value) => Effect.sync(() => void (streamed = value)))
        )).pipe(Effect.provide(model(script())))
        assert.isAbove(deltasOf(Array.from(events)).length, 0)
        assert.deepStrictEqual(streamed, plain)
      }))

    it.effect("a streamed durable run stopped after its tool step resumes from the journal, and a completed one replays without the model", () =>
      Effect.gen(function*() {
        const store = yield* Layer.build(RunStore.layerMemory)
        const inStore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideContext(effect, store)
        // the first process: the tool step is recorded, then the model fails (fatal) on step 2
        const first = yield* Effect.flip(inStore(Stream.runDrain(AgentEvent.stream(Durable.run(shop.run("Where is A1?"), "r1")))).pipe(
          Effect.provide(model([
            TestModel.toolCall("lookup", { id: "A1" }, "c1"),
            TestModel.fail(new HarnessError.AuthenticationFailed({ message: "bad key" }))
          ]))
        ))
        assert.strictEqual(first._tag, "AuthenticationFailed")
        // the second: only step 2 calls the model, and streams
        const events = Array.from(yield* inStore(Stream.runCollect(AgentEvent.stream(Durable.run(shop.run("Where is A1?"), "r1")))).pipe(
          Effect.provide(model([TestModel.text(answer)]))
        ))
        assert.strictEqual(deltasOf(events).map((event) => event.delta).join(""), answer)
        assert.isTrue(deltasOf(events).every((event) => event.step === 2))
        // completed: replayed, nothing streams, no model call (an empty script would fail)
        const replayed = Array.from(yield* inStore(Stream.runCollect(AgentEvent.stream(Durable.run(shop.run("Where is A1?"), "r1")))).pipe(
          Effect.provide(model([]))
        ))
        assert.strictEqual(deltasOf(replayed).length, 0)
        const finished = replayed.at(-1) as AgentEvent.AgentEvent & { _tag: "Finished" }
        assert.strictEqual(finished.output, answer)
      }))

    it.effect("a structured answer streams and decodes to the same value", () =>
      Effect.gen(function*() {
        const Status = Schema.Struct({ id: Schema.String, status: Schema.String })
        const typed = Agent.make({ name: "typed", toolkit: Shop, output: Status })
        const replies = () => [TestModel.toolCall("lookup", { id: "A1" }, "c1"), TestModel.jsonAnswer({ id: "A1", status: "shipped" })]
        const plain = yield* Agent.run(typed, "A1?").pipe(Effect.provide(model(replies())))
        const events = Array.from(yield* Stream.runCollect(Agent.stream(typed, "A1?")).pipe(Effect.provide(model(replies()))))
        const finished = events.at(-1)!
        assert.isTrue(AgentEvent.$is("Finished")(finished))
        assert.deepStrictEqual((finished as AgentEvent.AgentEvent & { _tag: "Finished" }).output, plain)
        assert.strictEqual(deltasOf(events).map((event) => event.delta).join(""), JSON.stringify({ id: "A1", status: "shipped" }))
      }))

    it.effect("a content-filtered answer fails with ContentRefused after the words that came, streamed or not", () =>
      Effect.gen(function*() {
        const filtered = () => [TestModel.text("I cannot", { finishReason: "content-filter" })]
        const plain = yield* Effect.flip(Agent.run(shop, "?").pipe(Effect.provide(model(filtered()))))
        assert.strictEqual(plain._tag, "ContentRefused")
        const events: Array<AgentEvent.AgentEvent> = []
        const error = yield* Effect.flip(Agent.stream(shop, "?").pipe(
          Stream.runForEach((event) => Effect.sync(() => void events.push(event))),
          Effect.provide(model(filtered()))
        ))
        assert.strictEqual(error._tag, "ContentRefused")
        assert.strictEqual((error as HarnessError.ContentRefused).refusal, "I cannot")
        assert.strictEqual(deltasOf(events).map((event) => event.delta).join(""), "I cannot")
        // one call: a refusal is not retried
        assert.isFalse(events.some(AgentEvent.$is("StreamRestarted")))
      }))
  })
}

describe("Agent streaming, a stream broken mid-way", () => {
  // FaultInjection cuts a stream after its first two parts (synthetic: ConnectionFailed, as a reset socket
  // maps); seed 7 at rate 0.5 cuts the first call and lets the second through
  const faults = FaultInjection.layer({
    seed: 7,
    rate: 0.5,
    weights: Object.fromEntries(FaultInjection.faultKinds.map((kind) => [kind, kind === "stream-cut" ? 1 : 0]))
  })

  it.effect("synthetic cut after two words: the step restarts, StreamRestarted discards them, no word shows twice, and the cut's output counts in the budget", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "talker", retry: RetryPolicy.make({ base: "1 millis", jitter: false }) })
      const { value } = yield* VirtualTime.runTimed(Stream.runCollect(Agent.stream(agent, "Tell me")))
      const events = Array.from(value)
      assert.deepStrictEqual((yield* FaultInjection.faults).map((fault) => fault.call), [1])
      const tags = events.map((event) => event._tag)
      const restart = tags.indexOf("StreamRestarted")
      assert.isAbove(restart, 0)
      const restarted = events[restart] as AgentEvent.AgentEvent & { _tag: "StreamRestarted" }
      assert.strictEqual(restarted.discarded, "The answer ")
      assert.strictEqual(restarted.step, 1)
      // what a consumer shows: the deltas after the last restart
      const shown = deltasOf(events.slice(restart)).map((event) => event.delta).join("")
      assert.strictEqual(shown, "The answer is forty-two.")
      assert.strictEqual(deltasOf(events.slice(0, restart)).map((event) => event.delta).join(""), "The answer ")
      // the retry was scheduled before the restart, and the step ended once
      assert.isBelow(tags.indexOf("RetryScheduled"), restart)
      assert.strictEqual(tags.filter((tag) => tag === "StepFinished").length, 1)
      // the broken attempt's 11 characters count as 3 estimated output tokens, beside the reply's 6
      const finished = events.at(-1) as AgentEvent.AgentEvent & { _tag: "Finished" }
      assert.strictEqual(finished.usage.outputTokens, 3 + 6)
      assert.strictEqual((yield* Budget.usage).outputTokens, 3 + 6)
    }).pipe(
      Effect.provide(faults.pipe(Layer.provideMerge(TestModel.layer([
        TestModel.text("The answer is forty-two.", { usage: { inputTokens: 10, outputTokens: 6 } }),
        TestModel.text("The answer is forty-two.", { usage: { inputTokens: 10, outputTokens: 6 } })
      ])))),
      Budget.provide({ limits: { totalTokens: 1000 } })
    ))
})
