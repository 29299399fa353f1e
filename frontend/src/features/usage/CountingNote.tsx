/**
 * Where requests and attempts are counted. A request is what a client sent; an attempt is one
 * provider tried for it: a failover is one request with two attempts.
 */
export function CountingNote({ where }: { where: 'usage' | 'requests' }) {
  return (
    <p className="note small" data-testid={`counting-note-${where}`}>
      {where === 'usage' ? (
        <>
          This table counts <strong>attempts</strong>: a failover is a failed attempt at one provider and a served one at
          the next. The totals above and the <a href="#/requests">Requests</a> page count <strong>requests</strong> (what
          clients sent).
        </>
      ) : (
        <>
          Each row is one <strong>request</strong> (what a client sent). A request that failed over has several{' '}
          <strong>attempts</strong>, one per provider tried: open it to see them. The{' '}
          <a href="#/usage">Usage</a> page’s per-provider table counts attempts.
        </>
      )}
    </p>
  );
}
