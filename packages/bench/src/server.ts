/**
 * The benchmark's model endpoint: a `FakeOpenAiServer` on 127.0.0.1, run in a
 * child process so that `process.cpuUsage()` in the parent measures the client
 * alone. Every side of every comparison gets the same canned replies:
 *
 * - a structured (JSON) answer when the request asks for `response_format`;
 * - a streamed text answer when it asks for `stream`;
 * - with tools: a tool call while the conversation has fewer than
 *   {@link toolCallsPerLoop} tool results, then the final text (a 5-step loop),
 *   streamed when it asks for `stream`;
 * - a plain text answer otherwise.
 *
 * Requests under `/hold/...` get the same answers after {@link holdMs} ms (to
 * measure the heap of calls in flight).
 *
 * `startServer()` (in the parent) forks this file and resolves to its URL.
 */
import { fork, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"

/** Tool calls before the final answer: 4 calls + 1 answer = 5 model steps. */
export const toolCallsPerLoop = 4

/** How long `/hold/` requests wait before their answer. */
export const holdMs = 1500

/** The structured answer every JSON request gets. */
export const answer = {
  city: "Paris",
  country: "France",
  population: 2_102_650,
  landmarks: ["Eiffel Tower", "Louvre", "Notre-Dame"]
}

/** The text streamed back (about 60 words, one chunk per word). */
export const streamedText =
  "Paris is the capital and largest city of France. It sits on the Seine in the north of the country, " +
  "at the heart of the Ile-de-France region. The city is known for its museums and architectural landmarks: " +
  "the Louvre, the Eiffel Tower, the Arc de Triomphe and Notre-Dame. It hosts many international organisations."

export const finalText = "Order A-1004 shipped on Monday and arrives on Thursday."

export interface RunningServer {
  /** The base URL to give the SDKs (ends in `/v1`). */
  readonly url: string
  /** The same, answered after `holdMs`. */
  readonly holdUrl: string
  readonly child: ChildProcess
  readonly close: () => Promise<void>
}

/** Forks the server process and waits for its URL. */
export const startServer = (): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--serve"], {
      execArgv: ["--conditions=@effect-harness/source"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)))
    child.once("message", (message) => {
      const url = (message as { url: string }).url
      resolve({
        url,
        holdUrl: url.replace(/\/v1$/, "/hold/v1"),
        child,
        close: () =>
          new Promise((done) => {
            child.removeAllListeners("exit")
            child.once("exit", () => done())
            child.kill("SIGTERM")
          })
      })
    })
  })

/**
 * The canned reply for a request body (see the module docs): the one choice
 * of the server and of the in-process `fetch` (inProcess.ts).
 */
export const cannedReplies = async (): Promise<(body: any) => import("@effect-harness/testing").FakeOpenAiServer.Reply> => {
  const { FakeOpenAiServer } = await import("@effect-harness/testing")
  const usage = { input: 120, output: 40 }
  const json = FakeOpenAiServer.chatCompletion({ text: JSON.stringify(answer), usage })
  const text = FakeOpenAiServer.chatCompletion({ text: finalText, usage })
  const stream = FakeOpenAiServer.chatCompletionStream({ text: streamedText, usage })
  const toolCalls = Array.from({ length: toolCallsPerLoop }, (_, i) =>
    FakeOpenAiServer.chatCompletion({
      toolCalls: [{ id: `call_${i + 1}`, name: "lookup", arguments: { orderId: `A-${1001 + i}` } }],
      usage
    }))
  // the same loop streamed (an agent whose events are consumed)
  const streamedFinal = FakeOpenAiServer.chatCompletionStream({ text: finalText, usage })
  const streamedToolCalls = Array.from({ length: toolCallsPerLoop }, (_, i) =>
    FakeOpenAiServer.chatCompletionStream({
      toolCalls: [{ id: `call_${i + 1}`, name: "lookup", arguments: { orderId: `A-${1001 + i}` } }],
      usage
    }))
  return (body) => {
    if (body === null || typeof body !== "object") return text
    if (Array.isArray(body.tools) && body.tools.length > 0) {
      let results = 0
      for (const message of body.messages ?? []) if (message.role === "tool") results++
      if (body.stream === true) return results < toolCallsPerLoop ? streamedToolCalls[results]! : streamedFinal
      return results < toolCallsPerLoop ? toolCalls[results]! : text
    }
    if (body.stream === true) return stream
    if (body.response_format !== undefined) return json
    return text
  }
}

const serve = async () => {
  const { Effect, Exit, Scope } = await import("effect")
  const { FakeOpenAiServer } = await import("@effect-harness/testing")
  type Reply = import("@effect-harness/testing").FakeOpenAiServer.Reply
  const choose = await cannedReplies()
  const held = new Map<Reply, Reply>()
  const hold = (reply: Reply): Reply => {
    let out = held.get(reply)
    if (out === undefined) held.set(reply, out = { ...reply, delay: holdMs })
    return out
  }

  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    Scope.provide(
      FakeOpenAiServer.make({
        fallback: (request) => {
          const reply = choose(request.body)
          return request.path.startsWith("/hold/") ? hold(reply) : reply
        }
      }),
      scope
    )
  )
  // the server records every request: forget them now and then
  const forget = setInterval(() => Effect.runFork(server.reset), 1000)
  const stop = () => {
    clearInterval(forget)
    Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("disconnect", stop)
  process.send!({ url: server.url })
}

if (process.argv.includes("--serve")) await serve()
