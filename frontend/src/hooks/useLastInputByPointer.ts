import { useCallback, useEffect, useRef } from 'react';

/**
 * Whether the last input was a pointer's (a click, a tap) rather than a key's, asked when it matters (a
 * ref: it changes no rendering). Focus a click moved along is not someone reading with the keyboard.
 */
export function useLastInputByPointer(): () => boolean {
  const pointer = useRef(false);
  useEffect(() => {
    const pointed = () => {
      pointer.current = true;
    };
    const keyed = () => {
      pointer.current = false;
    };
    document.addEventListener('pointerdown', pointed, true);
    document.addEventListener('keydown', keyed, true);
    return () => {
      document.removeEventListener('pointerdown', pointed, true);
      document.removeEventListener('keydown', keyed, true);
    };
  }, []);
  return useCallback(() => pointer.current, []);
}
