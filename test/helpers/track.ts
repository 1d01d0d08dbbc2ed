/** A promise's outcome so far, read without awaiting it: 'pending' until it resolves. */
export function track<T>(p: Promise<T>): { readonly value: T | 'pending' } {
  const state: { value: T | 'pending' } = { value: 'pending' };
  void p.then((v) => {
    state.value = v;
  });
  return state;
}
