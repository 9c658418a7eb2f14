/**
 * Soak test: 1,000 agent runs with tools under a 20% fault rate, with the
 * default retry and repair policies. Every run must end either with the
 * correct result or with a fatal error that the faults injected into that
 * run explain; no defect, no unhandled rejection, no tool result lost or
 * repeated. Faults are drawn per run from a seed, so a failure can be
 * replayed exactly. Everything waits in virtual time.
 */
import { Agent, HarnessError, RetryPolicy } from "@effect-harness/core"
import { FaultInjection, TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Schema } from "effect"
import { type Prompt, Tool, Toolkit } from "effect/ai"

const RUNS = 1000
const RATE = 0.2

const Add = Tool.make("add", {
  description: "Adds two integers",
  parameters: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  success: Schema.Int
})
const Multiply = Tool.make("multiply", {
  description: "Multiplies two integers",
  parameters: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  success: Schema.Int
})
const Arithmetic = Toolkit.make(Add, Multiply)

const Answer = Schema.Struct({ result: Schema.Int })

const calculator = Agent.make({
  name: "calculator",
  instructions: "Compute (n + 1) * 2 with the tools, then answer {\"result\": <number>}.",
  toolkit: Arithmetic,
  output: Answer,
  maxSteps: 8
})

/** Tool executions, per run: `run:callId` -> times executed. */
const executions = new Map<string, number>()
let currentRun = 0

const handlers = Arithmetic.toLayer({
  add: ({ a, b }) => Effect.sync(() => record("add", a + b)),
  multiply: ({ a, b }) => Effect.sync(() => record("multiply", a * b))
})

const record = (tool: string, value: number) => {
  const key = `${currentRun}:${tool}`
  executions.set(key, (executions.get(key) ?? 0) + 1)
  return value
}

const toolResults = (prompt: Prompt.Prompt): Map<string, unknown> => {
  const results = new Map<string, unknown>()
  for (const message of prompt.content) {
    if (message.role !== "tool") continue
    for (const part of message.content) {
      if (part.type === "tool-result" && !part.isFailure) results.set(part.name, part.result)
    }
  }
  return results
}

/** A well-behaved model: add, then multiply, then answer; it reads the history to know where it is. */
const scriptedModel = (n: number) =>
  TestModel.respond((request) => {
    const results = toolResults(request.prompt)
    if (!results.has("add")) return TestModel.toolCall("add", { a: n, b: 1 })
    if (!results.has("multiply")) return TestModel.toolCall("multiply", { a: results.get("add"), b: 2 })
    return TestModel.jsonAnswer({ result: results.get("multiply") })
  })

describe("soak", () => {
  it.effect(`${RUNS} agent runs under a ${RATE * 100}% fault rate end correctly or with an explained fatal error`, () =>
    Effect.gen(function*() {
      let unhandled = 0
      const onUnhandled = () => unhandled++
      process.on("unhandledRejection", onUnhandled)

      let retries = 0
      let repairs = 0
      let successes = 0
      let defects = 0
      const faultsByKind: Record<string, number> = {}
      const fatal: Record<string, number> = {}

      for (let n = 0; n < RUNS; n++) {
        currentRun = n
        const model = FaultInjection.layer({ seed: 10_000 + n, rate: RATE }).pipe(
          Layer.provideMerge(TestModel.layer(Array.from({ length: 40 }, () => scriptedModel(n))))
        )
        const { exit, faults, requests } = yield* Effect.gen(function*() {
          const exit = yield* VirtualTime.run(Effect.exit(Agent.run(calculator, `n = ${n}`)), { step: "500 millis" })
          return { exit, faults: yield* FaultInjection.faults, requests: yield* TestModel.requests }
        }).pipe(
          Effect.provide(model),
          Effect.provide(handlers),
          Effect.provideService(RetryPolicy.OnRetry, () => Effect.sync(() => void retries++))
        )
        for (const fault of faults) faultsByKind[fault.kind] = (faultsByKind[fault.kind] ?? 0) + 1
        repairs += requests.filter((request) => request.lastUserText.startsWith("Your previous answer was not valid")).length
        const kinds = new Set(faults.map((fault) => fault.kind))

        if (Exit.isSuccess(exit)) {
          successes++
          assert.deepStrictEqual(exit.value, { result: (n + 1) * 2 }, `run ${n}`)
          // every tool ran exactly once: a retried model call never re-ran a tool, and no result was lost
          assert.strictEqual(executions.get(`${n}:add`), 1, `run ${n}: add`)
          assert.strictEqual(executions.get(`${n}:multiply`), 1, `run ${n}: multiply`)
          continue
        }
        if (Cause.hasDies(exit.cause)) {
          defects++
          continue
        }
        const error = yield* Effect.flip(exit)
        assert.isTrue(HarnessError.isFatal(error), `run ${n} ended with a non-fatal ${error._tag}`)
        fatal[error._tag] = (fatal[error._tag] ?? 0) + 1
        switch (error._tag) {
          case "ContentRefused":
            assert.isTrue(kinds.has("refusal"), `run ${n}: refused without a refusal fault`)
            break
          case "RetriesExhausted":
            // the default policy makes 4 attempts: at least 4 faults hit that call
            assert.isAtLeast(faults.length, 4, `run ${n}: retries exhausted by ${faults.length} faults`)
            break
          case "InvalidOutput":
            assert.isTrue(kinds.has("malformed-json") || kinds.has("truncated"), `run ${n}: invalid output unexplained`)
            break
          default:
            assert.fail(`run ${n}: unexpected fatal ${error._tag}`)
        }
      }

      process.off("unhandledRejection", onUnhandled)
      const injected = Object.values(faultsByKind).reduce((a, b) => a + b, 0)
      console.log(
        `soak: ${RUNS} runs, ${injected} faults injected ${JSON.stringify(faultsByKind)}, ` +
          `${retries} retries, ${repairs} repairs, ${successes} successes, ` +
          `${RUNS - successes - defects} fatal endings ${JSON.stringify(fatal)}, ${defects} defects, ` +
          `${unhandled} unhandled rejections`
      )
      assert.strictEqual(defects, 0)
      assert.strictEqual(unhandled, 0)
      // the faults really happened, and the policies really worked
      assert.isAbove(injected, RUNS * 0.4)
      assert.isAbove(retries, RUNS * 0.2)
      assert.isAbove(repairs, 0)
      assert.isAbove(successes, RUNS * 0.85)
    }), 120_000)
})
