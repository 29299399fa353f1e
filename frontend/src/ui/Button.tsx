import { forwardRef, type ButtonHTMLAttributes } from 'react';

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  /**
   * For a button that its own click leaves busy or with nothing to do (Test, Save, Clear filters, a
   * dialog's submit …): marked disabled for assistive technology (`aria-disabled`, styled as
   * disabled) and ignoring clicks — a submit button does not submit, the click's default action is
   * cancelled — yet it keeps the keyboard focus, where a native `disabled` would drop it to <body>
   * (outside the dialog, for a dialog's button). A form's submit handler checks the same condition:
   * Enter in a field submits the form too.
   */
  softDisabled?: boolean;
}

/** A `<button>` (type "button" unless told) that can be soft-disabled. */
export const Button = forwardRef<HTMLButtonElement, ButtonProps>(function Button(
  { softDisabled = false, type = 'button', onClick, ...rest },
  ref,
) {
  return (
    <button
      ref={ref}
      type={type}
      {...rest}
      aria-disabled={softDisabled || rest['aria-disabled'] || undefined}
      onClick={(e) => {
        if (softDisabled) {
          e.preventDefault();
          return;
        }
        onClick?.(e);
      }}
    />
  );
});
