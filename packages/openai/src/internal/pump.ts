/**
 * A streamed call as an effect `Stream`, read ahead of its consumer: the
 * response body is read in plain promise code, each network read's
 * server-sent events decoded at once (./sse.ts) and turned into parts in a
 * buffer; each pull of the stream takes every part already there, without
 * suspending the fiber when there are some. A fiber waiting for parts is
 * woken once per network read, not once per event, so a 60-chunk answer
 * costs a few pulls instead of 60 promise-to-fiber resumes.
 *
 * The buffer is bounded: past {@link highWater} parts the reader waits for the
 * consumer. Closing the stream's scope before the answer is complete aborts
 * the HTTP request. Once the answer is complete (`[DONE]`, the API's final
 * event, or the end of the body) it is handed over at once, nothing is
 * aborted, and the rest of the body is read to its end in the background, so
 * the connection stays alive for the next call (an abort also builds a
 * `DOMException` with a stack trace).
 *
 * A stream that stalls (the response began, then no data for longer than the
 * source's idle timeout) fails with the source's idle error, keeping what
 * arrived, and its request is aborted: the SDK's request timeout stops at the
 * headers. The idle time is measured on effect's `Clock` (so `TestClock`
 * drives it) by the fiber that waits for parts; reads in the background only
 * note when data last came.
 *
 * @internal
 */
import { type Array as Arr, Cause, Channel, type Clock, Effect, type Pull, Scope, Stream } from "effect"
import type { AiError } from "effect/ai"
import * as Abort from "./abort.ts"
import { SseDecoder } from "./sse.ts"

/** What one streamed call reads, and how. */
export interface Source<P> {
  /** Whether requests abort through a link (our client) or need a signal. */
  readonly abortable: boolean
  /** Sends the request; resolves to the response (the SDK fails on an error status). */
  readonly open: (options: Abort.RequestOptions) => PromiseLike<Response>
  /** Appends the parts of one event's payload; throws for an event that fails the call. */
  readonly event: (payload: unknown, out: Array<P>) => void
  /** Whether the events so far make a complete answer (before `[DONE]` or the end of the body). */
  readonly complete: () => boolean
  /** Appends the closing parts; throws when the answer is incomplete. */
  readonly end: (out: Array<P>) => void
  /** The error for what the call threw; `started`: after the response began. */
  readonly error: (error: unknown, started: boolean) => AiError.AiError
  /** The longest wait for data once the response began, in milliseconds; none: no limit. */
  readonly idleTimeout: number | undefined
  /** The error for a stream that stalled for `millis` (it keeps what arrived). */
  readonly idle: (millis: number) => AiError.AiError
}

/** Parts buffered before the reader waits for the consumer. */
export const highWater = 1024

const done = Cause.done()

type Resume<P> = (effect: Pull.Pull<Arr.NonEmptyReadonlyArray<P>, AiError.AiError>) => void

class Pump<P> {
  private buffer: Array<P> = []
  private failure: AiError.AiError | undefined = undefined
  /** No more parts will come (the answer is complete, or failed). */
  private finished = false
  /** The answer is complete: nothing to abort. */
  private answered = false
  /** The body was read to its end. */
  private complete = false
  private closed = false
  private started = false
  private waiter: Resume<P> | undefined = undefined
  private wakeScheduled = false
  private drained: (() => void) | undefined = undefined
  private link: Abort.Link | undefined = undefined
  private controller: AbortController | undefined = undefined
  private readonly source: Source<P>
  /** The clock idle time is measured on: the first pulling fiber's. */
  private clock: Clock.Clock | undefined = undefined
  /** When data last came (the response, or a network read), on {@link clock}; undefined: no response yet. */
  private lastData: number | undefined = undefined

  readonly pull: Pull.Pull<Arr.NonEmptyReadonlyArray<P>, AiError.AiError>
  readonly release: Effect.Effect<void>
  private readonly cancelWait: Effect.Effect<void>

  constructor(source: Source<P>) {
    this.source = source
    // one parameter: effect then makes no AbortController for the callback
    const wait: Pull.Pull<Arr.NonEmptyReadonlyArray<P>, AiError.AiError> = Effect.callback((resume) => this.register(resume))
    const idle = source.idleTimeout
    if (idle === undefined) this.pull = wait
    else {
      // A pull that has to wait is timed; when its timer ends, the stream
      // fails only if no data came for `idle` (before the response, the
      // SDK's request timeout applies: the wait goes on).
      const timed = (millis: number): Pull.Pull<Arr.NonEmptyReadonlyArray<P>, AiError.AiError> =>
        Effect.timeoutOrElse(wait, {
          duration: millis,
          orElse: () =>
            Effect.suspend(() => {
              const quiet = this.lastData === undefined ? 0 : this.clock!.currentTimeMillisUnsafe() - this.lastData
              return this.lastData !== undefined && quiet >= idle
                ? Effect.fail(this.source.idle(idle))
                : timed(Math.max(1, idle - quiet))
            })
        })
      this.pull = Effect.clockWith((clock) => {
        this.clock ??= clock
        if (!this.started) this.start()
        const ready = this.take()
        return ready ?? timed(idle)
      })
    }
    this.release = Effect.sync(() => this.close())
    this.cancelWait = Effect.sync(() => {
      this.waiter = undefined
    })
  }

  private register(resume: Resume<P>): Effect.Effect<void> | undefined {
    if (!this.started) this.start()
    const ready = this.take()
    if (ready !== undefined) {
      resume(ready)
      return undefined
    }
    this.waiter = resume
    return this.cancelWait
  }

  // What a pull gets now: every buffered part, else the failure or the end.
  private take(): Pull.Pull<Arr.NonEmptyReadonlyArray<P>, AiError.AiError> | undefined {
    if (this.buffer.length > 0) {
      const parts = this.buffer as unknown as Arr.NonEmptyReadonlyArray<P>
      this.buffer = []
      const drained = this.drained
      if (drained !== undefined) {
        this.drained = undefined
        drained()
      }
      return Effect.succeed(parts)
    }
    if (this.failure !== undefined) return Effect.fail(this.failure)
    return this.finished ? done : undefined
  }

  // After a network read's events: the waiting fiber resumes in a microtask,
  // outside the reading loop.
  private wake() {
    if (this.waiter === undefined || this.wakeScheduled) return
    this.wakeScheduled = true
    queueMicrotask(this.flush)
  }

  private readonly flush = () => {
    this.wakeScheduled = false
    const resume = this.waiter
    if (resume === undefined) return
    const ready = this.take()
    if (ready === undefined) return
    this.waiter = undefined
    resume(ready)
  }

  // what follows a complete answer is ignored
  private readonly onEvent = (payload: unknown) => {
    if (this.answered) return
    this.source.event(payload, this.buffer)
    if (this.source.complete()) this.finish()
  }

  private start() {
    this.started = true
    let options: Abort.RequestOptions
    if (this.source.abortable) {
      this.link = Abort.makeLink()
      options = Abort.requestOptions(this.link)
    } else {
      this.controller = new AbortController()
      options = { signal: this.controller.signal }
    }
    void this.read(options)
  }

  // the closing parts: the answer is complete
  private finish() {
    this.source.end(this.buffer)
    this.finished = true
    this.answered = true
  }

  // data came: the idle time starts again
  private touch() {
    if (this.clock !== undefined) this.lastData = this.clock.currentTimeMillisUnsafe()
  }

  private async read(options: Abort.RequestOptions): Promise<void> {
    let started = false
    try {
      const response = await this.source.open(options)
      started = true
      this.touch()
      if (response.body === null) throw new Error("The streamed response has no body")
      const reader = response.body.getReader()
      const events = new SseDecoder(response.headers)
      while (true) {
        if (this.buffer.length >= highWater) {
          await new Promise<void>((resolve) => {
            this.drained = resolve
          })
        }
        // once the answer is complete, the body is still read to its end
        if (this.closed && !this.answered) return
        const result = await reader.read()
        this.touch()
        if (result.done === true) {
          this.complete = true
          if (!this.answered) {
            events.end(this.onEvent)
            this.finish()
          }
          return this.wake()
        }
        if (this.answered) continue
        events.feed(result.value, this.onEvent)
        if (events.done && !this.answered) this.finish()
        if (this.buffer.length > 0 || this.finished) this.wake()
      }
    } catch (error) {
      // a complete answer stays complete; an abort on close is not a failure
      if (this.answered || this.closed) return
      this.failure = this.source.error(error, started)
      this.finished = true
      this.wake()
    }
  }

  private close() {
    this.closed = true
    this.waiter = undefined
    this.drained?.()
    if (!this.started || this.complete || this.answered) return
    if (this.link !== undefined) Abort.abort(this.link)
    else this.controller?.abort()
  }
}

/**
 * The stream of one call: the request goes out on the first pull, with a
 * fresh {@link Source} (its own chunk state) per run.
 */
export const stream = <P>(source: () => Source<P>): Stream.Stream<P, AiError.AiError> =>
  Stream.fromChannel(Channel.fromTransform((_, scope) =>
    Effect.suspend(() => {
      const pump = new Pump(source())
      return Effect.as(Scope.addFinalizer(scope, pump.release), pump.pull)
    })
  ))
