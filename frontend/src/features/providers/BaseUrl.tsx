import { splitBaseUrl } from '../../logic/format';
import { WrappableText } from '../../ui/WrappableText';

/**
 * A provider's base URL in its row: scheme, host and port always whole (wrapping if they must: they
 * say which server it is), the path after them on one line, cut with "…" when it does not fit. The
 * whole URL (up to 2,048 characters) is the tooltip.
 */
export function BaseUrl({ id, url }: { id: string; url: string }) {
  const { origin, path } = splitBaseUrl(url);
  return (
    <div className="mono prow__url" title={url} data-testid={`base-url-${id}`}>
      {origin ? (
        <span className="prow__origin" data-testid={`base-url-origin-${id}`}>
          <WrappableText text={origin} />
        </span>
      ) : null}
      {origin && path ? <wbr /> : null}
      {path ? (
        <span className="prow__path" data-testid={`base-url-path-${id}`}>
          {path}
        </span>
      ) : null}
    </div>
  );
}
