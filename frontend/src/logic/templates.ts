// Provider templates for the Add-provider dialog: the URL shape and the usage adapter. Pure.

import type { UsageAdapter } from '../types';

export type TemplateId = 'generic' | 'openai' | 'azure' | 'relay';

export interface ProviderTemplate {
  id: TemplateId;
  label: string;
  /** Filled into the Base URL field; `<…>` parts must be replaced. */
  baseUrl: string;
  usageAdapter: UsageAdapter;
  hint: string;
}

export const PROVIDER_TEMPLATES: readonly ProviderTemplate[] = [
  {
    id: 'generic',
    label: 'Generic OpenAI-compatible',
    baseUrl: '',
    usageAdapter: '',
    hint: 'Any provider with the Responses API; usage is detected automatically.',
  },
  {
    id: 'openai',
    label: 'OpenAI',
    baseUrl: 'https://api.openai.com/v1',
    usageAdapter: 'openai_billing',
    hint: 'api.openai.com with your OpenAI API key; usage from the billing API.',
  },
  {
    id: 'azure',
    label: 'Azure OpenAI',
    baseUrl: 'https://<resource>.openai.azure.com/openai/v1',
    usageAdapter: '',
    hint: 'Replace <resource> with your Azure OpenAI resource name.',
  },
  {
    id: 'relay',
    label: 'new-api/one-api style relay',
    baseUrl: 'https://<host>/v1',
    usageAdapter: 'new_api',
    hint: 'A new-api or one-api style relay: replace <host>; usage from its token API.',
  },
];

export function templateById(id: string): ProviderTemplate {
  return PROVIDER_TEMPLATES.find((t) => t.id === id) ?? PROVIDER_TEMPLATES[0];
}

/** The first `<placeholder>` still in a URL ("<resource>"), or null. */
export function urlPlaceholder(url: string): string | null {
  return /<[^<>]*>/.exec(url)?.[0] ?? null;
}
