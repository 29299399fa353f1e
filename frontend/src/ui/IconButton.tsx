import { forwardRef } from 'react';
import { Button, type ButtonProps } from './Button';
import { Icon, type IconName } from './Icon';

interface Props extends Omit<ButtonProps, 'children'> {
  icon: IconName;
  /** Accessible name; also the tooltip. */
  label: string;
  tone?: 'default' | 'danger';
}

export const IconButton = forwardRef<HTMLButtonElement, Props>(function IconButton(
  { icon, label, tone = 'default', className, ...rest },
  ref,
) {
  return (
    <Button
      ref={ref}
      aria-label={label}
      title={label}
      className={`icon-btn${tone === 'danger' ? ' icon-btn--danger' : ''}${className ? ` ${className}` : ''}`}
      {...rest}
    >
      <Icon name={icon} />
    </Button>
  );
});
