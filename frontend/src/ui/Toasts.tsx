import { useToastList, useToasts } from '../hooks/toasts';
import { Icon } from './Icon';
import { IconButton } from './IconButton';

export function Toasts() {
  const toasts = useToastList();
  const { dismiss } = useToasts();
  return (
    <div className="toasts" aria-label="Notifications" role="region">
      <div role="status" aria-live="polite" className="toasts__list">
        {toasts
          .filter((t) => t.tone !== 'error')
          .map((t) => (
            <div key={t.id} className={`toast toast--${t.tone}`}>
              <Icon name={t.tone === 'success' ? 'check' : 'info'} />
              <div className="toast__text">
                <strong>{t.title}</strong>
                {t.message ? <span>{t.message}</span> : null}
              </div>
              <IconButton icon="x" label="Dismiss notification" onClick={() => dismiss(t.id)} />
            </div>
          ))}
      </div>
      <div aria-live="assertive" className="toasts__list">
        {toasts
          .filter((t) => t.tone === 'error')
          .map((t) => (
            <div key={t.id} className="toast toast--error" role="alert" data-testid="toast-error">
              <Icon name="error" />
              <div className="toast__text">
                <strong>{t.title}</strong>
                {t.message ? <span className="toast__message">{t.message}</span> : null}
              </div>
              <IconButton icon="x" label="Dismiss notification" onClick={() => dismiss(t.id)} />
            </div>
          ))}
      </div>
    </div>
  );
}
