import { Agent, AgentEvent, Conversation, Durable, Harness, HarnessError, Journal, RetryPolicy, RunStore } from "@effect-harness/core"
import { TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { type LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import { recordingTracer } from "./support/recordingTracer.ts"

const Lookup = Tool.make("lookup", {
  description: "Look up an order",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ id: Schema.String, status: Schema.String })
})

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.String }) {}

const Fragile = Tool.make("fragile", {
  parameters: Schema.Struct({ mode: Schema.Literals(["fail", "die"]) }),
  success: Schema.String,
  failure: NotFound
})

const Refund = Tool.make("refund", {
  parameters: Schema.Struct({ id: Schema.String, amount: Schema.Number }),
  success: Schema.String,
  needsApproval: true
})

const Shop = Toolkit.make(Lookup, Fragile, Refund)

const refunds: Array<string> = []

const ShopHandlers = Shop.toLayer({
  lookup: ({ id }) => Effect.succeed({ id, status: `shipped-${id}` }),
  fragile: ({ mode }) => mode === "fail" ? Effect.fail(new NotFound({ id: "x" })) : Effect.die(new Error("boom")),
  refund: ({ amount, id }) =>
    Effect.sync(() => {
      refunds.push(`${id}:${amount}`)
      return `refunded ${amount} on ${id}`
    })
})

const shop = Agent.make({ name: "shop", instructions: "You are a shop assistant.", toolkit: Shop, maxSteps: 6 })

const toolMessages = (prompt: Prompt.Prompt) =>
  prompt.content.filter((message): message is Prompt.ToolMessage => message.role === "tool")

const resultsOf = (prompt: Prompt.Prompt) =>
  toolMessages(prompt).flatMap((message) =>
    message.content.flatMap((part) => part.type === "tool-result" ? [part] : [])
  )

describe("Agent", () => {
  it.effect("answers directly when the model calls no tool; instructions go first", () =>
    Effect.gen(function*() {
      const answer = yield* Agent.run(shop, "hello")
      assert.strictEqual(answer, "Hi!")
      const [request] = yield* TestModel.requests
      assert.deepStrictEqual(request!.prompt.content.map((m) => m.role), ["system", "user"])
      assert.deepStrictEqual(request!.tools, ["lookup", "fragile", "refund"])
    }).pipe(Effect.provide(Layer.merge(TestModel.layer([TestModel.text("Hi!")]), ShopHandlers))))

  it.effect("parallel tool calls keep the model's order in the history, whatever order they finish in", () =>
    Effect.gen(function*() {
      const firstMayFinish = yield* Deferred.make<void>()
      const Slow = Tool.make("slow", { parameters: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
      const kit = Toolkit.make(Slow)
      const finished: Array<number> = []
      const handlers = kit.toLayer({
        // call 1 waits until call 3 has finished: completion order is 2, 3, 1 (or 3, 2, 1)
        slow: ({ n }) =>
          Effect.gen(function*() {
            if (n === 1) yield* Deferred.await(firstMayFinish)
            if (n === 3) yield* Deferred.succeed(firstMayFinish, undefined)
            finished.push(n)
            return n * 10
          })
      })
      const agent = Agent.make({ name: "parallel", toolkit: kit, concurrency: 3 })
      const answer = yield* Agent.run(agent, "go").pipe(Effect.provide(handlers))
      assert.strictEqual(answer, "done")
      assert.notDeepEqual(finished, [1, 2, 3])
      const requests = yield* TestModel.requests
      const results = resultsOf(requests[1]!.prompt)
      assert.deepStrictEqual(results.map((r) => r.id), ["c1", "c2", "c3"])
      assert.deepStrictEqual(results.map((r) => r.result), [10, 20, 30])
      // one tool message carrying the results, right after the assistant's calls
      assert.deepStrictEqual(requests[1]!.prompt.content.map((m) => m.role), ["user", "assistant", "tool"])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCalls([
        { name: "slow", params: { n: 1 }, id: "c1" },
        { name: "slow", params: { n: 2 }, id: "c2" },
        { name: "slow", params: { n: 3 }, id: "c3" }
      ]),
      TestModel.text("done")
    ]))))

  it.effect("bad arguments, an unknown tool, a failing and a dying handler become error results; the run goes on", () =>
    Effect.gen(function*() {
      const result = yield* shop.runDetailed("check things")
      assert.strictEqual(result.output, "Sorry, some checks failed.")
      assert.strictEqual(result.steps.length, 3)
      const [first, second, last] = result.steps
      assert.isTrue(first!.failed)
      assert.deepStrictEqual(first!.toolCalls.map((c) => [c.name, c.isFailure, c.failure]), [
        ["lookup", true, "parameters"],
        ["teleport", true, "unknown-tool"],
        ["lookup", false, undefined]
      ])
      assert.isTrue(second!.failed)
      assert.deepStrictEqual(second!.toolCalls.map((c) => c.failure), ["handler", "defect"])
      assert.isFalse(last!.failed)
      const requests = yield* TestModel.requests
      const seen = resultsOf(requests[2]!.prompt)
      assert.strictEqual(seen.length, 5)
      assert.include(JSON.stringify(seen[0]!.result), "Invalid arguments for lookup")
      assert.include(JSON.stringify(seen[1]!.result), "Available tools: lookup, fragile, refund")
      assert.deepStrictEqual(seen[2]!.result, { id: "A1", status: "shipped-A1" })
      assert.deepStrictEqual((seen[3]!.result as any).failure, { _tag: "NotFound", id: "x" })
      assert.include(JSON.stringify(seen[4]!.result), "boom")
      assert.isTrue(seen[4]!.isFailure)
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCalls([
          { name: "lookup", params: { id: 42 }, id: "a" },
          { name: "teleport", params: {}, id: "b" },
          { name: "lookup", params: { id: "A1" }, id: "c" }
        ]),
        TestModel.toolCalls([
          { name: "fragile", params: { mode: "fail" }, id: "d" },
          { name: "fragile", params: { mode: "die" }, id: "e" }
        ]),
        TestModel.text("Sorry, some checks failed.")
      ]),
      ShopHandlers
    ))))

  it.effect("a toolkit with its handlers bound (as McpClient.toolkit gives) yields the same tool results as the toolkit and its layer", () =>
    Effect.gen(function*() {
      const script = () =>
        TestModel.layer([
          TestModel.toolCalls([
            { name: "lookup", params: { id: 42 }, id: "a" },
            { name: "lookup", params: { id: "A1" }, id: "c" },
            { name: "fragile", params: { mode: "fail" }, id: "d" },
            { name: "fragile", params: { mode: "die" }, id: "e" }
          ]),
          TestModel.text("done")
        ])
      const records = (agent: Agent.Agent<Prompt.RawInput, string, any>) =>
        Effect.map(agent.runDetailed("check"), (result) =>
          result.steps[0]!.toolCalls.map((call) => [call.id, call.isFailure, call.failure, call.result]))
      const fromLayer = yield* records(shop).pipe(Effect.provide(Layer.merge(script(), ShopHandlers)))
      const bound = yield* Effect.provide(Effect.gen(function*() {
        return yield* Shop
      }), ShopHandlers)
      const fromBound = yield* records(Agent.make({ name: "bound", toolkit: bound })).pipe(Effect.provide(script()))
      assert.deepStrictEqual(fromBound.map((r) => r.slice(0, 3)), fromLayer.map((r) => r.slice(0, 3)))
      assert.deepStrictEqual(fromBound[1]![3], fromLayer[1]![3])
      assert.deepStrictEqual((fromBound[2]![3] as any).failure, (fromLayer[2]![3] as any).failure)
    }))

  it.effect("runs of one agent in different contexts call the handlers of their own context", () =>
    Effect.gen(function*() {
      const Greet = Tool.make("greet", { parameters: Schema.Struct({ name: Schema.String }), success: Schema.String })
      const kit = Toolkit.make(Greet)
      const agent = Agent.make({ name: "greeter", toolkit: kit })
      const call = TestModel.toolCalls([{ name: "greet", params: { name: "Ada" } }])
      // two runs in one context (the second reuses what the first made), then the results they sent
      const twiceWith = (greeting: string) =>
        Effect.gen(function*() {
          yield* Agent.run(agent, "greet Ada")
          yield* Agent.run(agent, "greet Ada")
          const requests = yield* TestModel.requests
          return [requests[1]!, requests[3]!].map((request) => resultsOf(request.prompt)[0]!.result)
        }).pipe(Effect.provide(Layer.merge(
          TestModel.layer([call, TestModel.text("done"), call, TestModel.text("done")]),
          kit.toLayer({ greet: ({ name }) => Effect.succeed(`${greeting}, ${name}`) })
        )))
      assert.deepStrictEqual(yield* twiceWith("Hello"), ["Hello, Ada", "Hello, Ada"])
      assert.deepStrictEqual(yield* twiceWith("Bonjour"), ["Bonjour, Ada", "Bonjour, Ada"])
    }))

  it.effect("max steps: a model that never stops fails with BudgetExceeded { limit: steps }", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "loopy", toolkit: Shop, maxSteps: 3 })
      const error = yield* Agent.run(agent, "loop").pipe(Effect.flip)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.limit, error.max, error.used], ["steps", 3, 4])
      assert.strictEqual((yield* TestModel.requests).length, 3)
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer(Array.from({ length: 5 }, (_, i) => TestModel.toolCall("lookup", { id: `L${i}` }, `l${i}`))),
      ShopHandlers
    ))))

  it.effect("stopWhen makes the next call the last one, without tools", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "stopper", toolkit: Shop, stopWhen: Agent.stopAfterTool("lookup") })
      const answer = yield* Agent.run(agent, "where is A1?")
      assert.strictEqual(answer, "It shipped.")
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests.map((r) => r.toolChoice), ["auto", "none"])
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([TestModel.toolCall("lookup", { id: "A1" }, "s1"), TestModel.text("It shipped.")]),
      ShopHandlers
    ))))

  it.effect("a structured answer is decoded, and repaired when invalid", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "status",
        toolkit: Shop,
        output: Schema.Struct({ id: Schema.String, shipped: Schema.Boolean })
      })
      const answer = yield* Agent.run(agent, "status of A1 as JSON")
      assert.deepStrictEqual(answer, { id: "A1", shipped: true })
      const requests = yield* TestModel.requests
      assert.strictEqual(requests[0]!.responseFormat, "json")
      assert.include(requests[2]!.lastUserText, "shipped")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCall("lookup", { id: "A1" }, "j1"),
        TestModel.jsonAnswer({ id: "A1" }),
        TestModel.jsonAnswer({ id: "A1", shipped: true })
      ]),
      ShopHandlers
    ))))

  it.effect("through LanguageModel only, a structured answer with tools is read from text", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "status", toolkit: Shop, output: Schema.Struct({ id: Schema.String }) })
      assert.deepStrictEqual(yield* Agent.run(agent, "status of A1"), { id: "A1" })
      const requests = yield* TestModel.requests
      // effect's generateObject would drop the tools: ask for text, decode the JSON in it
      assert.deepStrictEqual(requests.map((r) => [r.responseFormat, r.tools.length]), [["text", 3], ["text", 3]])
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([TestModel.toolCall("lookup", { id: "A1" }, "j1"), TestModel.jsonAnswer({ id: "A1" })], { direct: false }),
      ShopHandlers
    ))))
})

describe("Agent approvals", () => {
  const script = () =>
    TestModel.layer([
      TestModel.toolCalls([
        { name: "lookup", params: { id: "R9" }, id: "p1" },
        { name: "refund", params: { id: "R9", amount: 100 }, id: "p2" }
      ]),
      TestModel.text("Done.")
    ])

  it.effect("Harness.fallback without `on` does not swallow a pause: the caller still gets Paused", () =>
    Effect.gen(function*() {
      const backup = Harness.make("backup", (_: Prompt.RawInput) => Effect.succeed("fallback answer"))
      const guarded = shop.pipe(Harness.fallback(backup))
      const paused = yield* Harness.run(guarded, "refund R9").pipe(Effect.flip)
      assert.strictEqual(paused._tag, "Paused")
      expectTypeOf(paused).toEqualTypeOf<Agent.Paused>()
    }).pipe(Effect.provide(Layer.merge(script(), ShopHandlers))))

  it.effect("pauses with the pending call, and resumes with an approval", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const paused = yield* Agent.run(shop, "refund R9").pipe(Effect.flip)
      assert.strictEqual(paused._tag, "Paused")
      if (paused._tag !== "Paused") return
      assert.deepStrictEqual(paused.pending.map((call) => call.id), ["p2"])
      assert.deepStrictEqual(paused.calls.map((call) => call.id), ["p1", "p2"])
      assert.deepStrictEqual(refunds, [])
      // the paused value is plain data: it survives a round trip through JSON
      const stored = JSON.stringify(Schema.encodeSync(Agent.Paused)(paused))
      const restored = Schema.decodeSync(Agent.Paused)(JSON.parse(stored))
      const answer = yield* shop.resume(restored, { p2: Agent.approve })
      assert.strictEqual(answer, "Done.")
      assert.deepStrictEqual(refunds, ["R9:100"])
      const requests = yield* TestModel.requests
      const results = resultsOf(requests[1]!.prompt)
      assert.deepStrictEqual(results.map((r) => r.id), ["p1", "p2"])
      assert.strictEqual(results[1]!.result, "refunded 100 on R9")
    }).pipe(Effect.provide(Layer.merge(script(), ShopHandlers))))

  it.effect("a denial is told to the model; an edit runs with the new arguments", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const paused = yield* Agent.run(shop, "refund R9").pipe(Effect.flip)
      if (paused._tag !== "Paused") return assert.fail("expected a pause")
      yield* shop.resume(paused, { p2: Agent.deny("too much") })
      const denied = resultsOf((yield* TestModel.requests)[1]!.prompt)[1]!
      assert.isTrue(denied.isFailure)
      assert.deepStrictEqual(denied.result, { type: "execution-denied", reason: "too much" })
      assert.deepStrictEqual(refunds, [])
    }).pipe(Effect.provide(Layer.merge(script(), ShopHandlers))))

  it.effect("edit: the tool runs with the caller's arguments", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const paused = yield* Agent.run(shop, "refund R9").pipe(Effect.flip)
      if (paused._tag !== "Paused") return assert.fail("expected a pause")
      yield* shop.resume(paused, { p2: Agent.edit({ id: "R9", amount: 40 }) })
      assert.deepStrictEqual(refunds, ["R9:40"])
    }).pipe(Effect.provide(Layer.merge(script(), ShopHandlers))))

  it.effect("with an Approval service the run waits for its answer instead of pausing", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const asked: Array<string> = []
      const answer = yield* Agent.run(shop, "refund R9").pipe(
        Effect.provideService(Agent.Approval, (request) =>
          Effect.sync(() => {
            asked.push(`${request.call.name}:${request.call.id}`)
            return Agent.approve
          }))
      )
      assert.strictEqual(answer, "Done.")
      assert.deepStrictEqual(asked, ["refund:p2"])
      assert.deepStrictEqual(refunds, ["R9:100"])
    }).pipe(Effect.provide(Layer.merge(script(), ShopHandlers))))

  it.effect("a paused run in a Conversation resumes from the conversation", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const paused = yield* Agent.run(shop, "refund R9").pipe(Effect.flip)
      if (paused._tag !== "Paused") return assert.fail("expected a pause")
      assert.isUndefined(paused.history)
      yield* shop.resume(paused, { p2: Agent.approve })
      const history = yield* Conversation.messages
      assert.deepStrictEqual(history.map((m) => m.role), ["user", "assistant", "tool", "assistant"])
    }).pipe(Effect.provide(Layer.mergeAll(script(), ShopHandlers, Conversation.layer()))))
})

describe("Agent state, events and journal", () => {
  it.effect("a new input after a pause that was never resumed answers the pending calls as denied", () =>
    Effect.gen(function*() {
      refunds.length = 0
      const paused = yield* Agent.run(shop, "refund R9").pipe(Effect.flip)
      assert.strictEqual(paused._tag, "Paused")
      yield* Agent.run(shop, "never mind, where is A1?")
      const [, second] = yield* TestModel.requests
      assert.deepStrictEqual(second!.prompt.content.map((m) => m.role), ["system", "user", "assistant", "tool", "user"])
      const results = resultsOf(second!.prompt)
      assert.deepStrictEqual(results.map((r) => [r.id, r.isFailure]), [["p1", true], ["p2", true]])
      assert.deepStrictEqual(refunds, [])
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([
        TestModel.toolCalls([
          { name: "lookup", params: { id: "R9" }, id: "p1" },
          { name: "refund", params: { id: "R9", amount: 100 }, id: "p2" }
        ]),
        TestModel.text("It shipped.")
      ]),
      ShopHandlers,
      Conversation.layer()
    ))))

  it.effect("a Conversation carries the history across runs (multi-turn)", () =>
    Effect.gen(function*() {
      yield* Agent.run(shop, "first question")
      yield* Agent.run(shop, "second question")
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests[1]!.prompt.content.map((m) => m.role), ["system", "user", "assistant", "user"])
      assert.strictEqual((yield* Conversation.messages).length, 4)
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text("one"), TestModel.text("two")]),
      ShopHandlers,
      Conversation.layer()
    ))))

  it.effect("streams its events in order, with the output last", () =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(Agent.stream(shop, "where is A1?"))
      const tags = Array.from(events, (event) => event._tag)
      assert.deepStrictEqual(tags, [
        "StepStarted",
        "UsageUpdated",
        "ToolCalled",
        "ToolReturned",
        "StepFinished",
        "StepStarted",
        "TextDelta",
        "UsageUpdated",
        "StepFinished",
        "Finished"
      ])
      const last = Array.from(events).at(-1)!
      assert.isTrue(AgentEvent.$is("Finished")(last) && last.output === "Shipped.")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([TestModel.toolCall("lookup", { id: "A1" }, "e1"), TestModel.text("Shipped.")]),
      ShopHandlers
    ))))

  it.effect("retries a rate-limited model call, and the stream shows the retry with its delay", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "patient", retry: RetryPolicy.make({ base: "1 second", jitter: false }) })
      const { value: events } = yield* VirtualTime.runTimed(Stream.runCollect(Agent.stream(agent, "hi")))
      const retry = Array.from(events).find(AgentEvent.$is("RetryScheduled"))
      assert.isDefined(retry)
      assert.strictEqual(retry!.error._tag, "RateLimited")
      assert.strictEqual(Duration.toMillis(retry!.delay), 5000)
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.RateLimited({ message: "slow down", retryAfter: Duration.seconds(5) })),
      TestModel.text("hello")
    ]))))

  it.effect("runs in spans with OpenTelemetry GenAI attributes: the run, each model call, each tool call", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const agent = Agent.make({ name: "traced", toolkit: Shop, modelLabel: "gpt-4o" })
      yield* Agent.run(agent, "where is A1?").pipe(Effect.withTracer(tracer))
      const byName = (name: string) => spans.filter((span) => span.name === name)
      const [run] = byName("invoke_agent traced")
      assert.strictEqual(run!.attributes.get("gen_ai.operation.name"), "invoke_agent")
      assert.strictEqual(run!.attributes.get("gen_ai.agent.name"), "traced")
      const chats = byName("chat gpt-4o")
      assert.strictEqual(chats.length, 2)
      assert.strictEqual(chats[0]!.attributes.get("gen_ai.request.model"), "gpt-4o")
      assert.strictEqual(chats[0]!.attributes.get("gen_ai.usage.input_tokens"), 120)
      assert.strictEqual(chats[0]!.attributes.get("gen_ai.usage.output_tokens"), 7)
      assert.deepStrictEqual(chats[1]!.attributes.get("gen_ai.response.finish_reasons"), ["stop"])
      const [tool] = byName("execute_tool lookup")
      assert.strictEqual(tool!.attributes.get("gen_ai.tool.call.id"), "t1")
      assert.strictEqual(tool!.attributes.get("gen_ai.operation.name"), "execute_tool")
      // the steps are children of the run
      assert.isTrue(chats.every((chat) => chat.parent._tag === "Some" && chat.parent.value === run))
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCalls([{ name: "lookup", params: { id: "A1" }, id: "t1" }], {
          usage: { inputTokens: 120, outputTokens: 7 }
        }),
        TestModel.text("Shipped.", { usage: { inputTokens: 150, outputTokens: 3 } })
      ]),
      ShopHandlers
    ))))

  it.effect("with effect's default tracer (no exporter) a tool's span is in the caller's trace", () =>
    Effect.gen(function*() {
      const Probe = Tool.make("probe", { success: Schema.String })
      const Kit = Toolkit.make(Probe)
      const agent = Agent.make({ name: "untraced", toolkit: Kit })
      const seen: Array<string> = []
      const caller = yield* Effect.gen(function*() {
        yield* Agent.run(agent, "probe")
        return yield* Effect.orDie(Effect.currentSpan)
      }).pipe(
        Effect.withSpan("request"),
        Effect.provide(Kit.toLayer({
          probe: () => Effect.map(Effect.orDie(Effect.currentSpan), (span) => (seen.push(span.traceId), span.name))
        }))
      )
      // whether the agent makes spans of its own without an exporter is its
      // business; what a tool's logs and spans rely on is the caller's trace
      assert.deepStrictEqual(seen, [caller.traceId])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCalls([{ name: "probe", params: {} }]),
      TestModel.text("done")
    ]))))

  it.effect("every model and tool call goes through Journal.step, with the documented requests", () =>
    Effect.gen(function*() {
      const steps: Array<Journal.Step> = []
      const recorded: Array<unknown> = []
      const journal: Journal.Service = {
        durable: false,
        step: (step, codec, run) =>
          Effect.tap(run, (value) =>
            Effect.sync(() => {
              steps.push(step)
              recorded.push(Schema.encodeSync(codec)(value))
            }))
      }
      yield* Agent.run(shop, "where is A1?").pipe(Effect.provideService(Journal.Journal, journal))
      assert.deepStrictEqual(steps.map((s) => `${s.kind}:${s.name}`), ["model:shop", "tool:lookup", "model:shop"])
      assert.deepStrictEqual(steps[0]!.request, {
        step: 1,
        messages: [{ role: "user", content: [{ type: "text", text: "where is A1?" }] }]
      })
      assert.deepStrictEqual(steps[1]!.request, { id: "j1", name: "lookup", params: { id: "A1" } })
      assert.isFalse(steps[1]!.idempotent)
      assert.deepStrictEqual((steps[2]!.request as any).messages[0].content[0].id, "j1")
      assert.deepStrictEqual(recorded[1], { isFailure: false, result: { id: "A1", status: "shipped-A1" } })
      assert.deepStrictEqual((recorded[0] as any).toolCalls, [{ id: "j1", name: "lookup", params: { id: "A1" } }])
      // the journal's recorded JSON is enough to answer the steps again
      assert.deepStrictEqual(Schema.decodeSync(Agent.ModelStep)(JSON.parse(JSON.stringify(recorded[2]))).text, "Shipped.")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([TestModel.toolCall("lookup", { id: "A1" }, "j1"), TestModel.text("Shipped.")]),
      ShopHandlers
    ))))
})

describe("Agent: an answer cut at the token limit (finish reason length)", () => {
  const cut = "Your refund of $49 will be processed wi"
  const whole = "Your refund of $49 will be processed within 5 days."
  const support = Agent.make({ name: "support", toolkit: Shop, repairs: 1 })
  const promptTexts = (prompt: Prompt.Prompt) =>
    prompt.content.flatMap((message) =>
      message.role === "user" ? message.content.flatMap((part) => part.type === "text" ? [part.text] : []) : []
    )
  const statusOf = (runId: string) =>
    Effect.map(Effect.flatMap(Effect.service(RunStore.RunStore), (store) => store.list), (runs) =>
      runs.find((run) => run.runId === runId)?.status)

  it.effect("is sent back asking for a shorter answer; the complete one is the run's output", () =>
    Effect.gen(function*() {
      const result = yield* Durable.run(support.runDetailed("When is my refund?"), "refund-1")
      assert.strictEqual(result.output, whole)
      const requests = yield* TestModel.requests
      assert.strictEqual(requests.length, 2)
      assert.match(promptTexts(requests[1]!.prompt).at(-1)!, /cut off/)
      assert.strictEqual(yield* statusOf("refund-1"), "completed")
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text(cut, { finishReason: "length" }), TestModel.text(whole)]),
      ShopHandlers,
      RunStore.layerMemory
    ))))

  it.effect("cut every time: the run fails with the recoverable OutputTruncated keeping the text, and is journaled failed, never completed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Durable.run(Agent.run(support, "When is my refund?"), "refund-2"))
      assert.strictEqual(error._tag, "OutputTruncated")
      if (error._tag !== "OutputTruncated") return
      assert.isTrue(HarnessError.isRecoverable(error))
      assert.strictEqual(error.partial.text, cut)
      assert.strictEqual(error.attempts, 2)
      assert.strictEqual(yield* statusOf("refund-2"), "failed")
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text(cut, { finishReason: "length" }), TestModel.text(cut, { finishReason: "length" })]),
      ShopHandlers,
      RunStore.layerMemory
    ))))

  it.effect("allowTruncated: true takes the cut answer as the output", () =>
    Effect.gen(function*() {
      const lenient = Agent.make({ name: "lenient", toolkit: Shop, allowTruncated: true })
      assert.strictEqual(yield* Agent.run(lenient, "When is my refund?"), cut)
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(Layer.merge(TestModel.layer([TestModel.text(cut, { finishReason: "length" })]), ShopHandlers))))
})

describe("Agent: tools that go wrong become results the model reads", () => {
  const Parse = Tool.make("parse", { parameters: Schema.Struct({ x: Schema.String }), success: Schema.Unknown })
  const Parser = Toolkit.make(Parse)
  // JSON.parse throws before the handler returns an effect
  const ParserHandlers = Parser.toLayer({ parse: ({ x }) => Effect.succeed(JSON.parse(x)) })
  const parser = Agent.make({ name: "parser", toolkit: Parser })

  it.effect("a handler that throws synchronously (JSON.parse of bad input) gives a ToolCrashed result; the run goes on", () =>
    Effect.gen(function*() {
      const result = yield* parser.runDetailed("parse it")
      assert.strictEqual(result.output, "That was not JSON; the second one is 42.")
      const [first] = result.steps
      assert.deepStrictEqual(first!.toolCalls.map((c) => [c.isFailure, c.failure]), [[true, "defect"], [false, undefined]])
      const seen = resultsOf((yield* TestModel.requests)[1]!.prompt)
      assert.isTrue(seen[0]!.isFailure)
      assert.strictEqual((seen[0]!.result as any).error, "ToolCrashed")
      assert.include((seen[0]!.result as any).message, "JSON")
      assert.deepStrictEqual(seen[1]!.result, { answer: 42 })
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCalls([
          { name: "parse", params: { x: "{not json" }, id: "p1" },
          { name: "parse", params: { x: "{\"answer\":42}" }, id: "p2" }
        ]),
        TestModel.text("That was not JSON; the second one is 42.")
      ]),
      ParserHandlers
    ))))

  const Slow = Tool.make("slow", { parameters: Schema.Struct({}), success: Schema.String })
  const Stuck = Tool.make("stuck", { parameters: Schema.Struct({}), success: Schema.String })
  const Quick = Tool.make("quick", { parameters: Schema.Struct({}), success: Schema.String })
  const Hanging = Toolkit.make(Slow, Stuck, Quick)
  const HangingHandlers = Hanging.toLayer({ slow: () => Effect.never, stuck: () => Effect.never, quick: () => Effect.succeed("done") })
  const patient = Agent.make({
    name: "patient",
    toolkit: Hanging,
    toolTimeout: "30 seconds",
    toolTimeouts: { slow: "5 seconds" },
    concurrency: "unbounded"
  })

  it.effect("a hanging tool ends at its own timeout (toolTimeouts) or the agent's (toolTimeout) with a ToolTimedOut result the model reads", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(patient.runDetailed("go"))
      yield* TestClock.adjust("29 seconds")
      // slow gave up at 5 s; stuck has the agent's 30 s
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual((yield* TestModel.requests).length, 1)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.output, "Two tools timed out.")
      const seen = resultsOf((yield* TestModel.requests)[1]!.prompt)
      assert.deepStrictEqual(seen.map((part) => [part.name, part.isFailure, (part.result as any).error ?? part.result]), [
        ["slow", true, "ToolTimedOut"],
        ["stuck", true, "ToolTimedOut"],
        ["quick", false, "done"]
      ])
      assert.include((seen[0]!.result as any).message, "5s")
      assert.include((seen[1]!.result as any).message, "30s")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCalls([
          { name: "slow", params: {}, id: "s1" },
          { name: "stuck", params: {}, id: "s2" },
          { name: "quick", params: {}, id: "s3" }
        ]),
        TestModel.text("Two tools timed out.")
      ]),
      HangingHandlers
    ))))

  it.effect("the per-tool timeout alone: slow times out at 5 s, with no agent default", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "per-tool", toolkit: Hanging, toolTimeouts: { slow: "5 seconds" } })
      const fiber = yield* Effect.forkChild(Agent.run(agent, "go"))
      yield* TestClock.adjust("4 seconds")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "It timed out.")
      const [seen] = resultsOf((yield* TestModel.requests)[1]!.prompt)
      assert.strictEqual((seen!.result as any).error, "ToolTimedOut")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([TestModel.toolCall("slow", {}, "s1"), TestModel.text("It timed out.")]),
      HangingHandlers
    ))))
})

describe("Agent types", () => {
  it("infers the output, the services and the errors a caller must handle", () => {
    const structured = Agent.make({ name: "typed", toolkit: Shop, output: Schema.Struct({ ok: Schema.Boolean }) })
    expectTypeOf<Harness.Output<typeof structured>>().toEqualTypeOf<{ readonly ok: boolean }>()
    expectTypeOf<Harness.Output<typeof shop>>().toEqualTypeOf<string>()
    expectTypeOf<LanguageModel.LanguageModel>().toExtend<Harness.Services<typeof shop>>()
    expectTypeOf<Harness.Services<typeof shop>>().not.toEqualTypeOf<LanguageModel.LanguageModel>()
    const rendered = Agent.make({ name: "rendered", render: (order: { id: string }) => `Where is ${order.id}?` })
    expectTypeOf<Harness.Input<typeof rendered>>().toEqualTypeOf<{ id: string }>()

    const program = Agent.run(shop, "hi")
    program.pipe(Effect.catchTag("Paused", (paused) => Effect.succeed(paused.pending.length)))
    program.pipe(Effect.catchTag("BudgetExceeded", (e) => Effect.succeed(e.limit)))
    // @ts-expect-error recoverable model errors are retried inside the agent
    program.pipe(Effect.catchTag("RateLimited", () => Effect.succeed("")))
  })
})
