/**
 * What `FakeOpenAiServer` writes on a connection (a scripted {@link Reply}),
 * and small helpers of its HTTP handling. The reply's type lives here, not in
 * the public module, because the fault mode (`httpFaults.ts`) builds replies
 * too; `FakeOpenAiServer.Reply` is this type.
 *
 * @internal
 */
import { Duration } from "effect"

export const millis = (input: Duration.Input | undefined) =>
  input === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(input))

export const parse = (text: string): unknown => {
  if (text.length === 0) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * One scripted reply.
 */
export interface Reply {
  /** Default 200. */
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Default `application/json`. */
  readonly contentType?: string | undefined
  /** The body: one write, or one write per chunk (an SSE event each, for streams). */
  readonly body?: string | ReadonlyArray<string> | undefined
  /** Wait this long (real time) before answering. */
  readonly delay?: Duration.Input | undefined
  /** Wait this long (real time) between chunks. */
  readonly chunkDelay?: Duration.Input | undefined
  /** Send this many chunks, then destroy the socket (a connection cut mid-stream). */
  readonly cutAfter?: number | undefined
  /** Send this many chunks, then keep the connection open without sending more. */
  readonly stallAfter?: number | undefined
  /** Destroy the socket without answering (a connection reset). */
  readonly reset?: boolean | undefined
  /** Answer 400 instead when the request does not have this method and path. */
  readonly expect?: { readonly method?: string | undefined; readonly path?: string | undefined } | undefined
}
