// Buttons that their own click leaves busy or with nothing to do keep the keyboard focus: `Button`'s
// `softDisabled` marks them aria-disabled and ignores clicks instead of disabling them (a disabled
// button drops focus to <body>, outside the dialog it was in).

import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { Button } from '../src/ui/Button';
import { IconButton } from '../src/ui/IconButton';
import { FakeBackend } from './fakeBackend';
import { desktopApp } from './desktopApp';

const count = (b: FakeBackend, method: string) => b.methods().filter((m) => m === method).length;

describe('Button softDisabled', () => {
  it('passes clicks through while not soft-disabled, and says nothing about being disabled', () => {
    const onClick = vi.fn();
    render(<Button onClick={onClick}>Go</Button>);
    const button = screen.getByRole('button', { name: 'Go' });
    expect(button.getAttribute('aria-disabled')).toBeNull();
    expect(button.getAttribute('type')).toBe('button');
    fireEvent.click(button);
    expect(onClick).toHaveBeenCalledTimes(1);
  });

  it('is aria-disabled while soft-disabled, ignores clicks, and stays focusable', () => {
    const onClick = vi.fn();
    render(
      <Button softDisabled onClick={onClick}>
        Go
      </Button>,
    );
    const button = screen.getByRole('button', { name: 'Go' });
    button.focus();
    expect(fireEvent.click(button)).toBe(false); // the click's default action is cancelled
    expect(onClick).not.toHaveBeenCalled();
    expect(button.getAttribute('aria-disabled')).toBe('true');
    expect(button).toHaveProperty('disabled', false);
    expect(document.activeElement).toBe(button);
  });

  it('keeps a soft-disabled submit button from submitting its form', () => {
    const onSubmit = vi.fn((e: { preventDefault: () => void }) => e.preventDefault());
    const form = (softDisabled: boolean) => (
      <form onSubmit={onSubmit}>
        <Button type="submit" softDisabled={softDisabled}>
          Save
        </Button>
      </form>
    );
    const { rerender } = render(form(true));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onSubmit).not.toHaveBeenCalled();
    rerender(form(false));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
  });

  it('works for icon buttons too', () => {
    const onClick = vi.fn();
    render(<IconButton icon="refresh" label="Refresh" softDisabled onClick={onClick} />);
    const button = screen.getByRole('button', { name: 'Refresh' });
    fireEvent.click(button);
    expect(onClick).not.toHaveBeenCalled();
    expect(button.getAttribute('aria-disabled')).toBe('true');
  });
});

describe('buttons their own click leaves busy keep the focus', () => {
  it('Test all: busy, focused, and a second press asks nothing more', async () => {
    const backend = new FakeBackend();
    backend.delayMs.test_provider = 200;
    await desktopApp(backend);
    const all = screen.getByRole('button', { name: /Test all/ });
    all.focus();
    fireEvent.click(all);
    await waitFor(() => expect(all.getAttribute('aria-disabled')).toBe('true'));
    expect(document.activeElement).toBe(all);
    fireEvent.click(all);
    await waitFor(() => expect(all.getAttribute('aria-disabled')).toBeNull());
    expect(count(backend, 'test_provider')).toBe(3); // the three enabled providers, once each

    expect(document.activeElement).toBe(all);
  });

  it('Save routing: nothing left to save after it, yet focused; Reset likewise', async () => {
    const { backend } = await desktopApp();
    fireEvent.change(screen.getByLabelText('Failure threshold'), { target: { value: '4' } });
    const save = screen.getByRole('button', { name: 'Save routing' });
    expect(save.getAttribute('aria-disabled')).toBeNull();
    save.focus();
    fireEvent.click(save);
    await waitFor(() => expect(count(backend, 'update_routing')).toBe(1));
    await waitFor(() => expect(save.getAttribute('aria-disabled')).toBe('true'));
    expect(document.activeElement).toBe(save);
    // Enter in a field submits the form: nothing more is sent while there is nothing to save.
    fireEvent.submit(save.closest('form')!);
    expect(count(backend, 'update_routing')).toBe(1);

    fireEvent.change(screen.getByLabelText('Failure threshold'), { target: { value: '6' } });
    const reset = screen.getByRole('button', { name: 'Reset' });
    reset.focus();
    fireEvent.click(reset);
    expect(reset.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(reset);
  });

  it('a dialog’s submit stays focused inside the dialog while busy and does not submit twice', async () => {
    const backend = new FakeBackend();
    backend.delayMs.upsert_provider = 200;
    await desktopApp(backend);
    fireEvent.click(screen.getByRole('button', { name: 'Add provider' }));
    const dialog = screen.getByRole('dialog', { name: 'Add provider' });
    fireEvent.change(within(dialog).getByLabelText('Provider id'), { target: { value: 'p9' } });
    fireEvent.change(within(dialog).getByLabelText('Base URL'), { target: { value: 'https://relay9.example.com/v1' } });
    const add = within(dialog).getByRole('button', { name: 'Add provider' });
    add.focus();
    fireEvent.click(add);
    await waitFor(() => expect(add.getAttribute('aria-disabled')).toBe('true'));
    expect(document.activeElement).toBe(add);
    fireEvent.click(add); // ignored while busy
    fireEvent.submit(within(dialog).getByLabelText('Provider id').closest('form')!); // Enter in a field: ignored too
    await waitFor(() => expect(dialog.isConnected).toBe(false));
    expect(count(backend, 'upsert_provider')).toBe(1);
  });
});
