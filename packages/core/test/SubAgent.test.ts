import { Agent, AgentEvent, Budget, Durable, HarnessError, RunStore } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema, Stream } from "effect"
import { type Prompt, Tool, Toolkit } from "effect/ai"

// A researcher agent with a notes tool, called as the `research` tool of a writer agent.
const Notes = Tool.make("notes", { parameters: Schema.Struct({ topic: Schema.String }), success: Schema.String })
const NotesKit = Toolkit.make(Notes)
const notesHandlers = (calls: Array<string>) =>
  NotesKit.toLayer({
    notes: ({ topic }) =>
      Effect.sync(() => {
        calls.push(topic)
        return `notes on ${topic}`
      })
  })

const researcher = Agent.make({
  name: "researcher",
  description: "Researches a topic",
  instructions: "Research.",
  toolkit: NotesKit,
  idempotent: ["notes"],
  maxSteps: 4
})
const Research = Agent.asTool(researcher, { name: "research" })
const writer = Agent.make({ name: "writer", instructions: "Write.", toolkit: Toolkit.make(Research.tool), maxSteps: 4 })

const usage = (inputTokens: number, outputTokens: number) => ({ usage: { inputTokens, outputTokens } })

// writer asks research, researcher reads notes and answers, writer answers
const script = (): Array<TestModel.Reply> => [
  TestModel.toolCalls([{ name: "research", params: { input: "tides" }, id: "w1" }], usage(10, 5)),
  TestModel.toolCalls([{ name: "notes", params: { topic: "tides" }, id: "r1" }], usage(20, 5)),
  TestModel.text("Tides follow the moon.", usage(30, 5)),
  TestModel.text("Article: tides follow the moon.", usage(40, 5))
]

const env = (replies: Iterable<TestModel.Reply>, calls: Array<string> = []) =>
  Layer.mergeAll(TestModel.layer(replies), Research.layer, notesHandlers(calls))

const resultsOf = (prompt: Prompt.Prompt) =>
  prompt.content.flatMap((message) =>
    message.role === "tool" ? message.content.flatMap((part) => part.type === "tool-result" ? [part] : []) : []
  )

const systemText = (prompt: Prompt.Prompt) =>
  prompt.content.flatMap((message) => message.role === "system" ? [message.content] : [])

describe("Agent.asTool", () => {
  it.effect("the sub-agent answers the tool call from its own history; its answer is the tool's result", () =>
    Effect.gen(function*() {
      const result = yield* writer.runDetailed("Write about tides")
      assert.strictEqual(result.output, "Article: tides follow the moon.")
      assert.strictEqual(result.agent, "writer")
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests.map((request) => systemText(request.prompt)), [
        ["Write."],
        ["Research."],
        ["Research."],
        ["Write."]
      ])
      // the researcher starts from the tool's input alone, not the writer's history
      assert.deepStrictEqual(requests[1]!.prompt.content.map((message) => message.role), ["system", "user"])
      assert.strictEqual(requests[1]!.lastUserText, "tides")
      assert.deepStrictEqual(requests[1]!.tools, ["notes"])
      const [toolResult] = resultsOf(requests[3]!.prompt)
      assert.strictEqual(toolResult!.name, "research")
      assert.strictEqual(toolResult!.isFailure, false)
      assert.strictEqual(toolResult!.result, "Tides follow the moon.")
    }).pipe(Effect.provide(env(script()))))

  it.effect("nested events: the sub-agent's events come wrapped in SubAgent events between the call and its result", () =>
    Effect.gen(function*() {
      const events = Array.from(yield* Stream.runCollect(Agent.stream(writer, "Write about tides")))
      const top = events.map((event) => event._tag === "SubAgent" ? `SubAgent:${event.event._tag}` : event._tag)
      const called = top.indexOf("ToolCalled")
      const returned = top.indexOf("ToolReturned")
      const nested = events.filter((event) => event._tag === "SubAgent")
      assert.isAbove(nested.length, 0)
      // every nested event lies between the research call and its result
      for (let i = 0; i < events.length; i++) {
        if (events[i]!._tag === "SubAgent") assert.isTrue(i > called && i < returned, `event ${i}: ${top[i]}`)
      }
      for (const event of nested) {
        if (event._tag !== "SubAgent") continue
        assert.strictEqual(event.tool, "research")
        assert.strictEqual(event.id, "w1")
      }
      const inner = nested.flatMap((event) => event._tag === "SubAgent" ? [event.event] : [])
      assert.deepStrictEqual(
        inner.filter((event) => event._tag === "ToolCalled").map((event) => event._tag === "ToolCalled" && event.name),
        ["notes"]
      )
      const innerFinished = inner.flatMap((event) => event._tag === "Finished" ? [event] : [])
      assert.deepStrictEqual(innerFinished.map((event) => [event.agent, event.output]), [["researcher", "Tides follow the moon."]])
      // the stream's last event is the caller's own Finished
      const last = events[events.length - 1]!
      assert.isTrue(last._tag === "Finished" && last.agent === "writer")
      assert.strictEqual(events.filter((event) => event._tag === "Finished").length, 1)
    }).pipe(Effect.provide(env(script()))))

  it.effect("shared budget: the sub-run's tokens, steps and tool calls count in the caller's budget", () =>
    Effect.gen(function*() {
      yield* Agent.run(writer, "Write about tides")
      const spent = yield* Budget.usage
      assert.strictEqual(spent.inputTokens, 100)
      assert.strictEqual(spent.outputTokens, 20)
      assert.strictEqual(spent.steps, 4)
      assert.strictEqual(spent.toolCalls, 2)
    }).pipe(Budget.provide({ limits: { totalTokens: 1_000 } }), Effect.provide(env(script()))))

  it.effect("shared budget: a sub-agent going over the caller's budget ends the caller with BudgetExceeded", () =>
    Effect.gen(function*() {
      const events: Array<AgentEvent.AgentEvent> = []
      const error = yield* Effect.flip(
        Stream.runForEach(Agent.stream(writer, "Write about tides"), (event) => Effect.sync(() => events.push(event)))
      )
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.strictEqual(error.limit, "totalTokens")
      assert.strictEqual(error.max, 35)
      // the run ended inside the research call: it never returned a result to the writer's model
      assert.deepStrictEqual(events.filter((event) => event._tag === "ToolReturned"), [])
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Budget.provide({ limits: { totalTokens: 35 } }), Effect.provide(env(script()))))

  it.effect("a fatal sub-agent error (synthetic AuthenticationFailed) ends the caller's run with it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Agent.run(writer, "Write about tides"))
      assert.strictEqual(error._tag, "AuthenticationFailed")
      // named after the agent it came from, not the caller whose run it ended
      assert.strictEqual(error.message, `key revoked (harness "researcher", attempt 1)`)
      assert.strictEqual((error as HarnessError.AuthenticationFailed).harness, "researcher")
      assert.strictEqual((yield* TestModel.remaining), 1)
    }).pipe(Effect.provide(env([
      TestModel.toolCall("research", { input: "tides" }, "w1"),
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "key revoked" })),
      TestModel.text("never asked")
    ]))))

  it.effect("a fatal sub-agent error (synthetic QuotaExhausted) ends the caller's run with it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Agent.run(writer, "Write about tides"))
      assert.strictEqual(error._tag, "QuotaExhausted")
    }).pipe(Effect.provide(env([
      TestModel.toolCall("research", { input: "tides" }, "w1"),
      TestModel.fail(new HarnessError.QuotaExhausted({ message: "no credit left" })),
      TestModel.text("never asked")
    ]))))

  it.effect("a sub-agent's own maxSteps running out ends the caller with BudgetExceeded { limit: steps }", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Agent.run(writer, "Write about tides"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      assert.strictEqual(error._tag === "BudgetExceeded" && error.limit, "steps")
    }).pipe(Effect.provide(env([
      TestModel.toolCall("research", { input: "tides" }, "w1"),
      ...Array.from({ length: 4 }, (_, i) => TestModel.toolCall("notes", { topic: `t${i}` })),
      TestModel.text("never asked")
    ]))))

  it.effect("a non-fatal sub-agent error (InvalidOutput) is a failed tool result the caller's model reads", () => {
    const Verdict = Schema.Struct({ verdict: Schema.Literals(["true", "false"]) })
    const checker = Agent.make({ name: "checker", output: Verdict, repairs: 0 })
    const Check = Agent.asTool(checker, {
      name: "check",
      description: "Checks a claim",
      parameters: Schema.Struct({ claim: Schema.String }),
      input: ({ claim }) => `Is it true that ${claim}?`
    })
    const editor = Agent.make({ name: "editor", toolkit: Toolkit.make(Check.tool) })
    return Effect.gen(function*() {
      const answer = yield* Agent.run(editor, "Check: the moon is cheese")
      assert.strictEqual(answer, "Could not check it.")
      const requests = yield* TestModel.requests
      assert.strictEqual(requests[1]!.lastUserText, "Is it true that the moon is cheese?")
      const [result] = resultsOf(requests[2]!.prompt)
      assert.strictEqual(result!.isFailure, true)
      const failure = (result!.result as { failure: Agent.SubAgentFailed }).failure
      assert.strictEqual(failure.agent, "checker")
      assert.strictEqual(failure.error, "InvalidOutput")
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCall("check", { claim: "the moon is cheese" }, "e1"),
        TestModel.text("maybe"),
        TestModel.text("Could not check it.")
      ]),
      Check.layer
    )))
  })

  it.effect("a structured sub-agent answer is the tool's result in its Schema's encoding", () => {
    const Verdict = Schema.Struct({ verdict: Schema.Literals(["true", "false"]) })
    const checker = Agent.make({ name: "checker", output: Verdict })
    const Check = Agent.asTool(checker, { name: "check", description: "Checks a claim" })
    const editor = Agent.make({ name: "editor", toolkit: Toolkit.make(Check.tool) })
    return Effect.gen(function*() {
      yield* Agent.run(editor, "Check it")
      const [result] = resultsOf((yield* TestModel.requests)[2]!.prompt)
      assert.deepStrictEqual(result!.result, { verdict: "false" })
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.toolCall("check", { input: "the moon is cheese" }, "e1"),
        TestModel.jsonAnswer({ verdict: "false" }),
        TestModel.text("It is not.")
      ]),
      Check.layer
    )))
  })
})

// The BudgetExceeded a run failed with (the assertion fails if it did not).
const budgetExceeded = (exit: Exit.Exit<unknown, unknown>): HarnessError.BudgetExceeded => {
  const error = Exit.isFailure(exit) ? Exit.findErrorOption(exit) : undefined
  assert.isTrue(error !== undefined && error._tag === "Some" && (error.value as { _tag?: unknown })._tag === "BudgetExceeded")
  return (error as { value: HarnessError.BudgetExceeded }).value
}

describe("Agent handoffs", () => {
  const billing = Agent.make({ name: "billing", description: "Invoices and payments", instructions: "You do billing." })
  const triage = Agent.make({ name: "triage", instructions: "Route the user.", handoffs: [billing] })

  it.effect("a handoff: the target agent answers from then on, with the same history; the result names it", () =>
    Effect.gen(function*() {
      const result = yield* triage.runDetailed("Was my invoice paid?")
      assert.strictEqual(result.output, "Your invoice is paid.")
      assert.strictEqual(result.agent, "billing")
      assert.strictEqual(result.usage.steps, 2)
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests[0]!.tools, [Agent.handoffToolName(billing)])
      assert.strictEqual(Agent.handoffToolName(billing), "transfer_to_billing")
      // billing's instructions, triage's history: the user's message, the handoff call and its result
      const second = requests[1]!.prompt.content
      assert.deepStrictEqual(second.map((message) => message.role), ["system", "user", "assistant", "tool"])
      assert.deepStrictEqual(systemText(requests[1]!.prompt), ["You do billing."])
      assert.strictEqual(resultsOf(requests[1]!.prompt)[0]!.result, "Transferred to billing.")
      assert.deepStrictEqual(requests[1]!.tools, [])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.text("Your invoice is paid.")
    ]))))

  it.effect("a handoff stays under the run's cap on model calls: the target's calls count against the caller's maxModelCalls", () =>
    Effect.gen(function*() {
      const capped = Agent.make({ name: "triage", instructions: "Route the user.", handoffs: [billing], maxModelCalls: 1 })
      const exit = yield* Effect.exit(capped.run("Was my invoice paid?"))
      const exceeded = budgetExceeded(exit)
      assert.strictEqual(exceeded.limit, "modelCalls")
      assert.strictEqual(exceeded.max, 1)
      assert.strictEqual(exceeded.harness, "triage")
      // billing's call was not sent
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.text("Your invoice is paid.")
    ]))))

  it.effect("a handoff target's own maxModelCalls bounds its part of the run: BudgetExceeded names the target, its extra call not sent", () =>
    Effect.gen(function*() {
      const lookup = Tool.make("lookup", { parameters: Schema.Struct({ id: Schema.String }), success: Schema.String })
      const LookupKit = Toolkit.make(lookup)
      const cappedBilling = Agent.make({ name: "billing", toolkit: LookupKit, maxModelCalls: 2 })
      const router = Agent.make({ name: "triage", handoffs: [cappedBilling], maxModelCalls: 10 })
      const exit = yield* Effect.exit(router.run("Was my invoice paid?")).pipe(
        Effect.provide(LookupKit.toLayer({ lookup: ({ id }) => Effect.succeed(`invoice ${id}: paid`) }))
      )
      assert.deepInclude(budgetExceeded(exit), { limit: "modelCalls", max: 2, used: 3, harness: "billing" })
      // triage's call and billing's two; billing's third was not sent
      assert.strictEqual((yield* TestModel.requests).length, 3)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.toolCall("lookup", { id: "1" }, "b1"),
      TestModel.toolCall("lookup", { id: "2" }, "b2"),
      TestModel.text("Your invoice is paid.")
    ]))))

  it.effect("caps nest at a handoff: a sub-agent called by the target counts against the target's cap and the caller's", () =>
    Effect.gen(function*() {
      // billing (own cap 3) asks the researcher, whose two calls count against billing's cap
      const cappedBilling = Agent.make({ name: "billing", toolkit: Toolkit.make(Research.tool), maxModelCalls: 3 })
      const router = Agent.make({ name: "triage", handoffs: [cappedBilling], maxModelCalls: 10 })
      const exit = yield* Effect.exit(router.run("Was my invoice paid?")).pipe(
        Effect.provide(Layer.mergeAll(Research.layer, notesHandlers([])))
      )
      assert.deepInclude(budgetExceeded(exit), { limit: "modelCalls", max: 3, used: 4, harness: "billing" })
      // triage 1, billing 1, researcher 2: billing's answer would be its cap's fourth call
      assert.strictEqual((yield* TestModel.requests).length, 4)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.toolCall("research", { input: "invoices" }, "b1"),
      TestModel.toolCall("notes", { topic: "invoices" }, "r1"),
      TestModel.text("Invoices are paid monthly."),
      TestModel.text("Your invoice is paid.")
    ]))))

  it.effect("a handoff target's own cap leaves a run within it alone: the target answers", () =>
    Effect.gen(function*() {
      const cappedBilling = Agent.make({ name: "billing", maxModelCalls: 1 })
      const router = Agent.make({ name: "triage", handoffs: [cappedBilling] })
      const result = yield* router.runDetailed("Was my invoice paid?")
      assert.strictEqual(result.output, "Your invoice is paid.")
      assert.strictEqual(result.agent, "billing")
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.text("Your invoice is paid.")
    ]))))

  it.effect("a handoff shows in the events: the last Finished is the target's", () =>
    Effect.gen(function*() {
      const events = Array.from(yield* Stream.runCollect(Agent.stream(triage, "Was my invoice paid?")))
      const finished = events.filter((event) => event._tag === "Finished")
      assert.strictEqual(finished.length, 1)
      assert.isTrue(finished[0]!._tag === "Finished" && finished[0]!.agent === "billing")
      const started = events.flatMap((event) => event._tag === "StepStarted" ? [`${event.agent}:${event.step}`] : [])
      assert.deepStrictEqual(started, ["triage:1", "billing:1"])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.toolCall("transfer_to_billing", {}, "h1"),
      TestModel.text("Your invoice is paid.")
    ]))))
})

describe("Agent.asTool in a durable run", () => {
  const runOnce = (runId: string) => Durable.run(writer.runDetailed("Write about tides"), runId)

  it.effect("a run stopped after any journal write, inside the sub-run too, resumes through it: nothing recorded runs again", () =>
    Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      const baselineCalls: Array<string> = []
      const baseline = yield* runOnce("baseline").pipe(Effect.provide(env(script(), baselineCalls)))
      const entries = (yield* store.read("baseline")).map((record) => record.entry)
      const names = entries.flatMap((entry) => entry._tag === "Status" ? [] : [`${entry._tag}:${entry.name}`])
      // the sub-run's steps are in the caller's journal, under the call
      assert.deepStrictEqual(names, [
        "Step:writer",
        "Step:research[w1]/researcher",
        "Step:research[w1]/notes",
        "Step:research[w1]/researcher",
        "Step:writer"
      ])
      let insideSubRun = 0
      for (let stopAfter = 1; stopAfter < entries.length; stopAfter++) {
        const runId = `stop-${stopAfter}`
        let written = 0
        let lastName = ""
        const stopping = Layer.succeed(RunStore.RunStore, {
          ...store,
          append: (id, sequence, entry) =>
            Effect.andThen(store.append(id, sequence, entry), () => {
              lastName = entry._tag === "Status" ? "" : entry.name
              return ++written === stopAfter ? Effect.interrupt : Effect.void
            })
        })
        const calls: Array<string> = []
        const { first, requests, resumed } = yield* Effect.gen(function*() {
          const first = yield* Effect.exit(runOnce(runId).pipe(Effect.provide(stopping)))
          const resumed = yield* runOnce(runId)
          return { first, resumed, requests: yield* TestModel.requests }
        }).pipe(Effect.provide(env(script(), calls)))
        assert.isTrue(Exit.hasInterrupts(first), `stop after ${stopAfter}`)
        if (lastName.startsWith("research[")) insideSubRun++
        // every model call and the notes call happened once across both runs: the
        // stopped run's recorded steps, the sub-run's included, were replayed
        assert.strictEqual(requests.length, 4, `model calls after stop ${stopAfter}`)
        assert.deepStrictEqual(calls, ["tides"], `notes calls after stop ${stopAfter}`)
        assert.strictEqual(resumed.output, baseline.output)
        assert.deepStrictEqual(resumed.usage, baseline.usage)
      }
      assert.isAtLeast(insideSubRun, 2)
    }).pipe(Effect.provide(RunStore.layerMemory)))
})
