import { useEffect, useMemo, useRef, useState, type FormEvent, type RefObject } from 'react';
import {
  followDraftRenames,
  mergeDraft,
  planRoutingUpdate,
  routingToDraft,
  type RoutingDraft,
  type RoutingUpdatePlan,
} from '../../logic/routing';
import type { ProviderId, RoutingConfig, RoutingUpdate } from '../../types';

/** A draft and the routing it was taken against, kept while the form is off screen (another page). */
export interface RoutingFormMemory {
  draft: RoutingDraft;
  seen: RoutingConfig;
}

/** Where the form leaves its memory as it unmounts, and finds it again: held by the app. */
export interface RoutingFormKeeper {
  kept: RoutingFormMemory | null;
  keep: (memory: RoutingFormMemory) => void;
}

export interface RoutingForm {
  draft: RoutingDraft;
  plan: RoutingUpdatePlan;
  saving: boolean;
  set: <K extends keyof RoutingDraft>(key: K, value: RoutingDraft[K]) => void;
  reset: () => void;
  save: (e: FormEvent) => Promise<void>;
}

/**
 * The Routing card's draft. Server changes (polls, saves) are taken for every field nobody is
 * editing; a chosen provider renamed meanwhile is followed to its new id (`renamed` from the status);
 * Save sends every valid changed field, the preferred provider included, in one call — or nothing,
 * when the chosen provider was deleted meanwhile.
 */
export function useRoutingForm(
  routing: RoutingConfig,
  providerIds: readonly ProviderId[],
  renamed: Readonly<Record<ProviderId, ProviderId>>,
  onSave: (values: RoutingUpdate) => Promise<{ ok: boolean }>,
  /** The Preferred provider field: a Save it blocks takes the focus there, to its error. */
  preferredField: RefObject<HTMLSelectElement | null>,
  /** What the form held when it last left the screen, and where it leaves it now: edits survive a
   * visit to another page, and what changed meanwhile is taken for every field nobody edited. */
  memory?: RoutingFormKeeper,
): RoutingForm {
  const [stored, setDraft] = useState<RoutingDraft>(() => memory?.kept?.draft ?? routingToDraft(routing));
  const [seen, setSeen] = useState(() => memory?.kept?.seen ?? routing);
  const [saving, setSaving] = useState(false);

  const latest = useRef<RoutingFormMemory>({ draft: stored, seen });
  useEffect(() => {
    latest.current = { draft: stored, seen };
  });
  const keep = memory?.keep;
  useEffect(() => {
    if (!keep) return;
    return () => keep(latest.current);
  }, [keep]);

  // Adjusting state while rendering when a prop changed (react.dev "You might not need an effect").
  if (seen !== routing) {
    setSeen(routing);
    setDraft((d) => mergeDraft(d, seen, routing));
  }
  // Likewise for a rename: kept in the draft, so a provider added later under the old id does not
  // take the choice back.
  const draft = followDraftRenames(stored, providerIds, renamed);
  if (draft !== stored) setDraft((d) => followDraftRenames(d, providerIds, renamed));

  const plan = useMemo(() => planRoutingUpdate(draft, routing, providerIds), [draft, routing, providerIds]);

  return {
    draft,
    plan,
    saving,
    set: (key, value) => setDraft((d) => ({ ...d, [key]: value })),
    reset: () => setDraft(routingToDraft(routing)),
    save: async (e) => {
      e.preventDefault();
      // Refused: the field's error says why; the focus takes the person to it.
      if (plan.blocking) {
        preferredField.current?.focus();
        return;
      }
      // Enter in a field submits the form even while its Save button is soft-disabled.
      if (saving || Object.keys(plan.values).length === 0) return;
      setSaving(true);
      try {
        await onSave(plan.values); // only valid, changed values are ever sent
      } finally {
        setSaving(false);
      }
    },
  };
}
