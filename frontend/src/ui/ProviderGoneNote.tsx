/**
 * Said under a provider filter that names an id no provider has now, so that it does not look like a
 * filter with nothing in it. `what` is what the list shows ("requests", "events").
 */
export function ProviderGoneNote({ id, what, testId }: { id: string; what: string; testId: string }) {
  return (
    <p className="muted small" role="status" data-testid={testId}>
      No provider has the id <code className="mono">{id}</code> now (it was deleted, or renamed outside API Router):
      showing the {what} logged under that id.
    </p>
  );
}
