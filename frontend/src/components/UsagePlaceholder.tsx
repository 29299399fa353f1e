export function UsagePlaceholder() {
  return (
    <main className="placeholder" aria-labelledby="usage-title">
      <h1 id="usage-title" className="card__title">
        Usage
      </h1>
      <p className="muted">Usage analytics arrive with the usage issue.</p>
    </main>
  );
}
