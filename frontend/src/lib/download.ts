/** Saves a Blob (a download's body, say) as a file through a Blob link. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  try {
    a.click();
  } finally {
    a.remove();
    // Give the browser time to start reading the Blob before it is released.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
