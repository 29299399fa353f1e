import { Fragment } from 'react';

/**
 * A URL or other long token that may wrap: line breaks are offered after "/", ".", ":", "?" and "&"
 * (and, failing those, anywhere), so "https://relay.example.com:8443/v1" wraps between its parts
 * rather than inside a host name or a port.
 */
export function WrappableText({ text }: { text: string }) {
  // (No lookbehind: older WebKit, which pywebview may use, lacks it.)
  const parts = text.match(/[^/.:?&]*[/.:?&]|[^/.:?&]+$/g) ?? [text];
  return (
    <>
      {parts.map((part, i) => (
        <Fragment key={i}>
          {part}
          {i < parts.length - 1 ? <wbr /> : null}
        </Fragment>
      ))}
    </>
  );
}
