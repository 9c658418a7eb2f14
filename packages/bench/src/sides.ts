/**
 * The three sides of the per-call comparisons, each built once against a
 * base URL: the raw `openai` SDK (the floor), effect-harness
 * (`Harness.prompt` + `Harness.retry` over `OpenAiLanguageModel`, the core
 * `Agent`, run plain and streamed, `Harness.streamText` on the provider's
 * `DirectModel` stream), and
 * the Vercel AI SDK
 * (`ai` + `@ai-sdk/openai`). Every side asks the same question, with the same
 * output schema and the same tool, and gets the same canned answers.
 */
import { createOpenAI } from "@ai-sdk/openai"
import { Agent, DirectModel, Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { generateText, Output, stepCountIs, streamText, tool } from "ai"
import { Context, Effect, Exit, Layer, Schema, Scope, Stream } from "effect"
import { LanguageModel, Prompt, Tool, Toolkit } from "effect/ai"
import OpenAI from "openai"
import { z } from "zod"
import * as BareLoop from "./bareLoop.ts"

export const model = "gpt-4o-mini"
export const apiKey = "sk-bench"
export const question = "Which city is the Eiffel Tower in? Answer with the city, its country, population and landmarks."
export const streamQuestion = "Tell me about Paris."
export const loopQuestion = "Where is my order A-1001? Check the related orders too."

/** A call of one side: resolves to its (decoded) answer. */
export type Call = () => Promise<unknown>

export interface Sides {
  readonly structured: Call
  readonly stream: Call
  readonly toolLoop: Call
  /** The same loop, each step streamed and its text deltas consumed as they come. */
  readonly streamedToolLoop: Call
}

// -----------------------------------------------------------------------------
// The output schema and the tool, in each library's terms
// -----------------------------------------------------------------------------

const City = Schema.Struct({
  city: Schema.String,
  country: Schema.String,
  population: Schema.Finite,
  landmarks: Schema.Array(Schema.String)
})

const decodeCity = Schema.decodeUnknownEffect(City)

const cityJsonSchema = {
  type: "object",
  properties: {
    city: { type: "string" },
    country: { type: "string" },
    population: { type: "number" },
    landmarks: { type: "array", items: { type: "string" } }
  },
  required: ["city", "country", "population", "landmarks"],
  additionalProperties: false
}

const zCity = z.object({ city: z.string(), country: z.string(), population: z.number(), landmarks: z.array(z.string()) })

const lookup = (orderId: string) => ({ orderId, status: "shipped", eta: "Thursday" })

const Lookup = Tool.make("lookup", {
  description: "Looks up an order by id",
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Schema.Struct({ orderId: Schema.String, status: Schema.String, eta: Schema.String })
})
const LookupKit = Toolkit.make(Lookup)

const lookupJsonSchema = {
  type: "object",
  properties: { orderId: { type: "string" } },
  required: ["orderId"],
  additionalProperties: false
}

// -----------------------------------------------------------------------------
// Raw openai SDK: the floor
// -----------------------------------------------------------------------------

/**
 * The raw SDK's structured call on `client` and `JSON.parse`; `signal`: each
 * call given a caller `AbortSignal`, as a client built elsewhere gets from the
 * provider (cpu.ts client compares the clients).
 */
export const structuredOn = (client: OpenAI, signal = false): Call => async () => {
  const completion = await client.chat.completions.create(
    {
      model,
      messages: [{ role: "user", content: question }],
      response_format: { type: "json_schema", json_schema: { name: "city", schema: cityJsonSchema, strict: true } }
    },
    signal ? { signal: new AbortController().signal } : undefined
  )
  return JSON.parse(completion.choices[0]!.message.content!)
}

export const raw = (baseURL: string): Sides => {
  const client = new OpenAI({ apiKey, baseURL, maxRetries: 0, logLevel: "off" })
  const tools: Array<OpenAI.Chat.ChatCompletionTool> = [{
    type: "function",
    function: { name: "lookup", description: "Looks up an order by id", parameters: lookupJsonSchema }
  }]
  return {
    structured: structuredOn(client),
    stream: async () => {
      const stream = await client.chat.completions.create({
        model,
        messages: [{ role: "user", content: streamQuestion }],
        stream: true,
        stream_options: { include_usage: true }
      })
      let text = ""
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ""
      return text
    },
    toolLoop: async () => {
      const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = [{ role: "user", content: loopQuestion }]
      for (let step = 0; step < 10; step++) {
        const completion = await client.chat.completions.create({ model, messages, tools })
        const message = completion.choices[0]!.message
        const calls = message.tool_calls ?? []
        if (calls.length === 0) return message.content
        messages.push({ role: "assistant", content: message.content, tool_calls: calls })
        for (const call of calls) {
          if (call.type !== "function") continue
          const args = JSON.parse(call.function.arguments) as { orderId: string }
          messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(lookup(args.orderId)) })
        }
      }
      throw new Error("the loop did not end")
    },
    streamedToolLoop: async () => {
      const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = [{ role: "user", content: loopQuestion }]
      for (let step = 0; step < 10; step++) {
        const stream = await client.chat.completions.create({
          model,
          messages,
          tools,
          stream: true,
          stream_options: { include_usage: true }
        })
        let text = ""
        const calls: Array<{ id: string; name: string; args: string }> = []
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta
          if (delta === undefined) continue
          // the text as a UI shows it, delta by delta
          if (typeof delta.content === "string" && delta.content.length > 0) text += delta.content
          for (const call of delta.tool_calls ?? []) {
            const pending = calls[call.index] ??= { id: call.id ?? "", name: call.function?.name ?? "", args: "" }
            pending.args += call.function?.arguments ?? ""
          }
        }
        if (calls.length === 0) return text
        messages.push({
          role: "assistant",
          content: text.length > 0 ? text : null,
          tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.args } }))
        })
        for (const call of calls) {
          const args = JSON.parse(call.args) as { orderId: string }
          messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(lookup(args.orderId)) })
        }
      }
      throw new Error("the loop did not end")
    }
  }
}

/**
 * The raw SDK's structured call inside effect: `Effect.tryPromise` around the
 * SDK and the answer decoded with the output Schema, no provider or harness.
 * The least any effect program calling the SDK and validating the answer
 * does; between it and the raw SDK is effect's runtime and Schema.
 *
 * `fromPrompt`: the same call with its question made an effect `Prompt` and
 * its messages read back from it, as plainly as a request allows. The least
 * a call through effect's `LanguageModel` seam does (a provider takes a
 * `Prompt`); between it and `structured` is effect's `Prompt`.
 */
export const effectOnRaw = (baseURL: string): { readonly structured: Call; readonly fromPrompt: Call } => {
  const client = new OpenAI({ apiKey, baseURL, maxRetries: 0, logLevel: "off" })
  const responseFormat = { type: "json_schema", json_schema: { name: "city", schema: cityJsonSchema, strict: true } } as const
  const send = (messages: Array<OpenAI.Chat.ChatCompletionMessageParam>) =>
    Effect.flatMap(
      Effect.tryPromise(() => client.chat.completions.create({ model, messages, response_format: responseFormat })),
      (completion) => decodeCity(JSON.parse(completion.choices[0]!.message.content!))
    )
  const call = send([{ role: "user", content: question }])
  const fromPrompt = Effect.suspend(() =>
    send(
      Prompt.make(question).content.map((message) => ({
        role: "user",
        content: message.role === "user"
          ? message.content.map((part) => part.type === "text" ? part.text : "").join("")
          : ""
      }))
    )
  )
  return { structured: () => Effect.runPromise(call), fromPrompt: () => Effect.runPromise(fromPrompt) }
}

// -----------------------------------------------------------------------------
// effect-harness
// -----------------------------------------------------------------------------

const structuredHarness = Harness.prompt({
  name: "city",
  output: City,
  render: (input: string) => input
}).pipe(Harness.retry())

const agent = Agent.make({ name: "support", toolkit: LookupKit, maxSteps: 10 })

const LookupHandlers = LookupKit.toLayer({ lookup: ({ orderId }) => Effect.succeed(lookup(orderId)) })

// The least an effect agent loop does (bareLoop.ts), with the agent's tool and question
const bareLoop = BareLoop.make(Lookup, ({ orderId }) => lookup(orderId), loopQuestion)
const bareStreamedLoop = BareLoop.makeStreamed(Lookup, ({ orderId }) => lookup(orderId), loopQuestion)

/** The effect-harness sides, and the bare loop on the same provider (the floor of an effect agent loop). */
export interface HarnessSides extends Sides {
  readonly bareToolLoop: Call
  /** The bare loop streamed, its parts pulled through by the consumer as they come. */
  readonly bareStreamedToolLoop: Call
  /**
   * The same from a fiber of its own through effect's queue, as `Agent.stream`
   * hands over its events: the floor of a streamed loop that is an effect.
   */
  readonly queuedStreamedToolLoop: Call
  /** The least an effect structured call does: the provider's fast path, its answer decoded with the Schema. */
  readonly bareStructured: Call
}

export interface Built<A> {
  readonly value: A
  readonly close: () => Promise<void>
}

export const harness = async (baseURL: string): Promise<Built<HarnessSides>> => {
  const layer = Layer.mergeAll(
    OpenAiLanguageModel.layer({ model }).pipe(Layer.provide(OpenAiClient.layer({ apiKey, baseURL }))),
    LookupHandlers
  )
  const scope = Effect.runSync(Scope.make())
  const context: Context.Context<Layer.Success<typeof layer>> = await Effect.runPromise(
    Scope.provide(Layer.build(layer), scope)
  )
  const run = Effect.runPromiseWith(context)
  const streamed = Harness.streamText({ prompt: streamQuestion }).pipe(
    Stream.runFold(() => "", (text, part) => part.type === "text-delta" ? text + part.delta : text)
  )
  // the answer as a UI shows it: the text deltas of the last step
  const streamedLoop = Agent.stream(agent, loopQuestion).pipe(
    Stream.runFold(() => "", (text, event) =>
      event._tag === "TextDelta" ? text + event.delta : event._tag === "StepStarted" ? "" : text)
  )
  const direct = DirectModel.of(Context.get(context, LanguageModel.LanguageModel))
  const bare = bareLoop(direct, 10)
  // the answer as the agent's consumer reads it: the text deltas of the last step
  const lastText = <E>(parts: Stream.Stream<DirectModel.StreamPart, E>) =>
    parts.pipe(
      Stream.runFold(() => ({ text: "", answer: "" }), (state, part) => {
        if (part.type === "text-delta") state.text += part.delta
        else if (part.type === "finish") {
          state.answer = state.text
          state.text = ""
        }
        return state
      }),
      Effect.map((state) => state.answer)
    )
  const bareStreamed = lastText(bareStreamedLoop(direct, 10))
  const queuedStreamed = lastText(BareLoop.throughQueue(bareStreamedLoop(direct, 10)))
  // (the request made per call, as a caller does: a prompt sent once)
  const bareStructured = Effect.suspend(() =>
    Effect.flatMap(
      direct.generate({
        prompt: Prompt.make(question),
        tools: [],
        toolChoice: "none",
        responseFormat: { type: "json", objectName: "city", schema: City }
      }),
      (reply) => reply.structured !== undefined ? Effect.succeed(reply.structured.value) : decodeCity(JSON.parse(reply.text))
    )
  )
  return {
    value: {
      structured: () => run(Harness.run(structuredHarness, question)),
      stream: () => run(streamed),
      toolLoop: () => run(Agent.run(agent, loopQuestion)),
      streamedToolLoop: () => run(streamedLoop),
      bareToolLoop: () => run(bare),
      bareStreamedToolLoop: () => run(bareStreamed),
      queuedStreamedToolLoop: () => run(queuedStreamed),
      bareStructured: () => run(bareStructured)
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// -----------------------------------------------------------------------------
// Vercel AI SDK
// -----------------------------------------------------------------------------

export const vercel = (baseURL: string): Sides => {
  const provider = createOpenAI({ apiKey, baseURL })
  const chat = provider.chat(model)
  const tools = {
    lookup: tool({
      description: "Looks up an order by id",
      inputSchema: z.object({ orderId: z.string() }),
      execute: async ({ orderId }) => lookup(orderId)
    })
  }
  const output = Output.object({ schema: zCity, name: "city" })
  return {
    structured: async () => (await generateText({ model: chat, prompt: question, output, maxRetries: 0 })).output,
    stream: async () => {
      const result = streamText({ model: chat, prompt: streamQuestion, maxRetries: 0 })
      let text = ""
      for await (const delta of result.textStream) text += delta
      return text
    },
    toolLoop: async () =>
      (await generateText({ model: chat, prompt: loopQuestion, tools, stopWhen: stepCountIs(10), maxRetries: 0 })).text,
    streamedToolLoop: async () => {
      const result = streamText({ model: chat, prompt: loopQuestion, tools, stopWhen: stepCountIs(10), maxRetries: 0 })
      let text = ""
      for await (const delta of result.textStream) text += delta
      return text
    }
  }
}
