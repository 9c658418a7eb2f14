/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI's protocol, for tests
 * that run the real `openai` SDK end to end without the network. It answers
 * each request with the next reply of a script (JSON, server-sent events, an
 * error body; with delays, a stream cut after N chunks, a stalled stream or a
 * reset connection), or replays recorded interactions in the fixture format,
 * and records every request it received.
 *
 * The server lives as long as the layer's scope: started when the layer is
 * built, closed (with its open connections) when the scope closes.
 *
 * @example
 * ```ts
 * import { FakeOpenAiServer } from "@effect-harness/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeOpenAiServer.FakeOpenAiServer
 *   yield* server.enqueue(
 *     FakeOpenAiServer.error(429, { message: "Slow down", type: "requests", code: "rate_limit_exceeded" }, { "retry-after": "1" }),
 *     FakeOpenAiServer.chatCompletion({ text: "Hello!" })
 *   )
 *   return server.url // give it to the SDK as its baseURL
 * }).pipe(Effect.provide(FakeOpenAiServer.layer()))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer } from "effect"
import * as Http from "node:http"
import type { Interaction } from "./Cassette.ts"

export {
  chatCompletionBody,
  chatCompletionChunks,
  errorBody,
  responseBody,
  responseEvents,
  type ReplyInput,
  type ToolCallInput,
  type UsageInput
} from "./internal/openai-bodies.ts"
import * as FaultInjection from "./FaultInjection.ts"
import * as Io from "./internal/fakeServerIo.ts"
import { applyFault } from "./internal/httpFaults.ts"
import * as Bodies from "./internal/openai-bodies.ts"

/**
 * One scripted reply: status, headers and body, with the timing and the
 * connection faults to play (see each field).
 *
 * @since 0.1.0
 */
export type Reply = Io.Reply

/**
 * A request the server received.
 *
 * @since 0.1.0
 */
export interface ReceivedRequest {
  readonly method: string
  /** The path, query string excluded, e.g. `/v1/chat/completions`. */
  readonly path: string
  /** The headers, without `authorization`. */
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body (the raw text when it is not JSON). */
  readonly body: unknown
  /** Whether the client closed the connection before the reply was complete. */
  readonly aborted: boolean
}

/**
 * A running fake server.
 *
 * @since 0.1.0
 */
export class FakeOpenAiServer extends Context.Service<FakeOpenAiServer, {
  /** The base URL to give the SDK, ending in `/v1`. */
  readonly url: string
  /** Every request received, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<ReceivedRequest>>
  /** Adds replies to the end of the script. */
  readonly enqueue: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** Replies not used yet. */
  readonly pending: Effect.Effect<number>
  /** Waits (without polling) until at least `count` requests arrived. */
  readonly awaitRequests: (count: number) => Effect.Effect<void>
  /** Waits until at least `count` requests were aborted by the client. */
  readonly awaitAborted: (count: number) => Effect.Effect<void>
  /** The faults injected in fault mode, in order (`call` counts requests from 1). */
  readonly faults: Effect.Effect<ReadonlyArray<FaultInjection.Fault>>
  /** Forgets the requests and the unused replies. */
  readonly reset: Effect.Effect<void>
}>()("@effect-harness/testing/FakeOpenAiServer") {}

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The initial script. */
  readonly replies?: Iterable<Reply> | undefined
  /** Answers requests the script has no reply for; without it such requests get a 500 naming the problem. */
  readonly fallback?: ((request: ReceivedRequest) => Reply) | undefined
  /**
   * When set, a request without `Authorization: Bearer <apiKey>` gets OpenAI's
   * 401 `invalid_api_key` (and uses no scripted reply).
   */
  readonly apiKey?: string | undefined
  /**
   * Fault mode: at the given rate, reproducibly from the seed, a request gets
   * the failure real APIs produce instead of its reply (429 with
   * `retry-after-ms`, 500, a connection held then reset for timeouts, a reset,
   * a stream or body cut mid-way, a malformed or truncated answer, a refusal).
   */
  readonly faults?: (FaultInjection.Options & {
    /** How long a "timeout" holds the connection before resetting it. Default 30 seconds. */
    readonly timeoutAfter?: Duration.Input | undefined
  }) | undefined
}

// -----------------------------------------------------------------------------
// Reply builders: JSON, SSE, OpenAI errors, chat completions and responses
// (plain and streamed), and replies from recorded interactions.
// -----------------------------------------------------------------------------
/**
 * An HTTP response whose body is `body` as JSON (`content-type:
 * application/json`), with the status, headers and delay of `options`: for
 * bodies the other builders do not make (`chatCompletion`, `response` and
 * `error` build OpenAI's own).
 *
 * @example
 * ```ts
 * import { FakeOpenAiServer } from "@effect-harness/testing"
 *
 * const models = FakeOpenAiServer.jsonResponse({ object: "list", data: [] }, { status: 200 })
 * ```
 *
 * @since 0.1.0
 */
export const jsonResponse = (body: unknown, options?: Omit<Reply, "body" | "contentType">): Reply => ({
  ...options,
  contentType: "application/json",
  body: JSON.stringify(body)
})

/**
 * @deprecated Renamed {@link jsonResponse} (an HTTP JSON response, not a model
 * answer: that is `TestModel.jsonAnswer`). Kept for one release.
 * @since 0.1.0
 */
export const json: (body: unknown, options?: Omit<Reply, "body" | "contentType">) => Reply = jsonResponse

/**
 * A server-sent events reply, one event per chunk. Objects are sent as JSON
 * `data:` lines; `named` adds an `event:` line with the object's `type` (as
 * the Responses API does); `done` ends with `data: [DONE]` (as Chat
 * Completions does).
 *
 * @since 0.1.0
 */
export const sse = (
  events: ReadonlyArray<unknown>,
  options?: Omit<Reply, "body" | "contentType"> & {
    readonly named?: boolean | undefined
    readonly done?: boolean | undefined
  }
): Reply => {
  const { done, named, ...rest } = options ?? {}
  const chunks = events.map((event) => {
    const data = typeof event === "string" ? event : JSON.stringify(event)
    const type = named === true && typeof event === "object" && event !== null ? (event as { type?: unknown }).type : undefined
    return `${typeof type === "string" ? `event: ${type}\n` : ""}data: ${data}\n\n`
  })
  if (done === true) chunks.push("data: [DONE]\n\n")
  return { ...rest, contentType: "text/event-stream", body: chunks }
}

/**
 * An OpenAI error reply (`{ error: { message, type, param, code } }`).
 *
 * @example
 * ```ts
 * import { FakeOpenAiServer } from "@effect-harness/testing"
 *
 * const quota = FakeOpenAiServer.error(429, {
 *   message: "You exceeded your current quota",
 *   type: "insufficient_quota",
 *   code: "insufficient_quota"
 * })
 * ```
 *
 * @since 0.1.0
 */
export const error = (
  status: number,
  body: Parameters<typeof Bodies.errorBody>[0],
  headers?: Readonly<Record<string, string>>
): Reply => jsonResponse(Bodies.errorBody(body), { status, headers })

/**
 * A Chat Completions answer.
 *
 * @since 0.1.0
 */
export const chatCompletion = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  jsonResponse(Bodies.chatCompletionBody(input), options)

/**
 * A streamed Chat Completions answer (chunks, usage chunk, `[DONE]`).
 *
 * @since 0.1.0
 */
export const chatCompletionStream = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  sse(Bodies.chatCompletionChunks(input), { ...options, done: true })

/**
 * A Responses API answer.
 *
 * @since 0.1.0
 */
export const response = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  jsonResponse(Bodies.responseBody(input), options)

/**
 * A streamed Responses API answer (named events up to `response.completed`).
 *
 * @since 0.1.0
 */
export const responseStream = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  sse(Bodies.responseEvents(input), { ...options, named: true })

/**
 * The reply of a recorded interaction (fixture / cassette format): its status,
 * headers and body, streams split into their events; the request must have
 * the recorded method and path.
 *
 * @since 0.1.0
 */
export const fromInteraction = (interaction: Interaction): Reply => {
  const { request, response } = interaction
  const streamed = response.contentType.startsWith("text/event-stream")
  return {
    status: response.status,
    contentType: response.contentType,
    headers: response.headers,
    body: streamed ? response.body.split(/(?<=\n\n)/) : response.body,
    expect: { method: request.method, path: request.path }
  }
}

// -----------------------------------------------------------------------------
// Server
// -----------------------------------------------------------------------------

interface Waiter {
  readonly ready: () => boolean
  readonly resume: () => void
}

/**
 * Starts a server in the current scope.
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const script: Array<Reply> = Array.from(options.replies ?? [])
  let next = 0
  const requests: Array<{ -readonly [K in keyof ReceivedRequest]: ReceivedRequest[K] }> = []
  let aborted = 0
  let waiters: Array<Waiter> = []
  const timers = new Set<NodeJS.Timeout>()
  const drawer = options.faults === undefined ? undefined : FaultInjection.makeDrawer(options.faults)
  const faultTiming = {
    retryAfter: Duration.fromInputUnsafe(options.faults?.retryAfter ?? "1 second"),
    timeoutAfter: Duration.fromInputUnsafe(options.faults?.timeoutAfter ?? "30 seconds")
  }

  const notify = () => {
    if (waiters.length === 0) return
    const still: Array<Waiter> = []
    for (const waiter of waiters) waiter.ready() ? waiter.resume() : still.push(waiter)
    waiters = still
  }

  const after = (ms: number, f: () => void) => {
    if (ms <= 0) return f()
    const timer = setTimeout(() => {
      timers.delete(timer)
      f()
    }, ms)
    timers.add(timer)
  }

  const send = (reply: Reply, request: Http.IncomingMessage, response: Http.ServerResponse) => {
    if (reply.reset === true) return request.socket.destroy()
    const body = reply.body ?? ""
    const chunks = typeof body === "string" ? [body] : body
    const streamed = typeof body !== "string"
    response.writeHead(reply.status ?? 200, {
      "content-type": reply.contentType ?? "application/json",
      ...reply.headers
    })
    if (!streamed && reply.cutAfter === undefined && reply.stallAfter === undefined) return response.end(chunks[0])
    response.flushHeaders()
    const gap = Io.millis(reply.chunkDelay)
    // each chunk is flushed before the next one (or the cut) goes out
    const write = (index: number) => {
      if (response.destroyed) return
      if (reply.cutAfter !== undefined && index >= reply.cutAfter) return response.socket?.destroy()
      if (reply.stallAfter !== undefined && index >= reply.stallAfter) return
      if (index >= chunks.length) return response.end()
      response.write(chunks[index]!, () => after(gap, () => write(index + 1)))
    }
    write(0)
  }

  const handle = (request: Http.IncomingMessage, response: Http.ServerResponse, text: string) => {
    const headers: Record<string, string> = {}
    for (const [key, value] of Object.entries(request.headers)) {
      if (key !== "authorization" && value !== undefined) headers[key] = Array.isArray(value) ? value.join(", ") : value
    }
    const received = {
      method: (request.method ?? "GET").toUpperCase(),
      path: (request.url ?? "/").split("?")[0]!,
      headers,
      body: Io.parse(text),
      aborted: false
    }
    requests.push(received)
    response.on("close", () => {
      if (!response.writableFinished) {
        received.aborted = true
        aborted++
        notify()
      }
    })
    notify()
    if (options.apiKey !== undefined && request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return send(error(401, {
        message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        code: "invalid_api_key"
      }), request, response)
    }
    const scripted = script[next]
    if (scripted !== undefined) next++
    const reply = scripted ?? options.fallback?.(received) ?? error(500, {
      message: `FakeOpenAiServer: no scripted reply for request ${requests.length} (${received.method} ${received.path})`,
      type: "server_error"
    })
    const expected = reply.expect
    if (
      expected !== undefined &&
      ((expected.method !== undefined && expected.method.toUpperCase() !== received.method) ||
        (expected.path !== undefined && expected.path !== received.path))
    ) {
      return send(error(400, {
        message: `FakeOpenAiServer: expected ${expected.method ?? "*"} ${expected.path ?? "*"}, got ${received.method} ${received.path}`
      }), request, response)
    }
    const kind = drawer?.draw()
    const final = kind === undefined ? reply : applyFault(kind, reply, faultTiming)
    after(Io.millis(final.delay), () => send(final, request, response))
  }

  const server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => handle(request, response, Buffer.concat(chunks).toString("utf8")))
  })
  const port = yield* Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
    }),
    () =>
      Effect.callback<void>((resume) => {
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

  const waitFor = (ready: () => boolean) =>
    Effect.callback<void>((resume) => {
      if (ready()) return resume(Effect.void)
      const waiter: Waiter = { ready, resume: () => resume(Effect.void) }
      waiters.push(waiter)
      return Effect.sync(() => {
        waiters = waiters.filter((w) => w !== waiter)
      })
    })

  return FakeOpenAiServer.of({
    url: `http://127.0.0.1:${port}/v1`,
    requests: Effect.sync(() => requests.map((request) => ({ ...request }))),
    enqueue: (...replies) => Effect.sync(() => void script.push(...replies)),
    pending: Effect.sync(() => script.length - next),
    faults: Effect.sync(() => drawer?.faults.slice() ?? []),
    awaitRequests: (count) => waitFor(() => requests.length >= count),
    awaitAborted: (count) => waitFor(() => aborted >= count),
    reset: Effect.sync(() => {
      requests.length = 0
      script.length = 0
      next = 0
      aborted = 0
    })
  })
})

/**
 * A layer running the server for the lifetime of its scope.
 *
 * @example
 * ```ts
 * import { FakeOpenAiServer } from "@effect-harness/testing"
 *
 * const server = FakeOpenAiServer.layer({
 *   replies: [FakeOpenAiServer.chatCompletion({ toolCalls: [{ name: "get_weather", arguments: { city: "Paris" } }] })]
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<FakeOpenAiServer> => Layer.effect(FakeOpenAiServer, make(options))
