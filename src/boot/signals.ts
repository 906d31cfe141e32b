/**
 * Explicit signal handlers. As PID 1 the kernel drops every signal that has no
 * handler, so each one the daemon reacts to is listened for here.
 */
export const HANDLED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

export interface SignalSource {
  on(event: HandledSignal, listener: () => void): unknown;
  off(event: HandledSignal, listener: () => void): unknown;
}

/** Route every handled signal to `handler`; returns the function that removes the handlers. */
export function onSignals(source: SignalSource, handler: (signal: HandledSignal) => void): () => void {
  const listeners = HANDLED_SIGNALS.map((signal) => {
    const listener = () => handler(signal);
    source.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) source.off(signal, listener);
  };
}
