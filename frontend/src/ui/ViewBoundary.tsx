import { Component, type ReactNode } from 'react';

interface Props {
  /** What to show; as a function, told how many times it was started over (0 at first). */
  children: ReactNode | ((attempt: number) => ReactNode);
  /** Start it over this long after it failed (its own reads with it). */
  retryMs: number;
}

interface State {
  error: Error | null;
  attempt: number;
}

/**
 * A view that fails while rendering — an answer of a shape this UI does not know, say another version of
 * the app on the port — says so in place of a blank window, and is started over `retryMs` later.
 */
export class ViewBoundary extends Component<Props, State> {
  override state: State = { error: null, attempt: 0 };
  private retry: ReturnType<typeof setTimeout> | undefined;

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidMount() {
    this.retryIfFailed(); // (failed on its very first render: no update follows)
  }

  override componentDidUpdate() {
    this.retryIfFailed();
  }

  private retryIfFailed() {
    if (this.state.error === null || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.setState((s) => ({ error: null, attempt: s.attempt + 1 }));
    }, this.props.retryMs);
  }

  override componentWillUnmount() {
    clearTimeout(this.retry);
    this.retry = undefined; // (StrictMode mounts it again: that mount starts its own)
  }

  override render() {
    const { children } = this.props;
    if (this.state.error === null) return typeof children === 'function' ? children(this.state.attempt) : children;
    return (
      <main className="placeholder">
        <p className="text-bad" role="alert" data-testid="view-failed">
          This page could not be shown: {this.state.error.message}. The gateway&apos;s answer may come from another
          version of API Router; trying again every {Math.round(this.props.retryMs / 1000)} s (or reload the window).
        </p>
      </main>
    );
  }
}
