// How `npm run bench` compares two sides on a shared machine: runs in pairs, alternating which side
// goes first (whatever one run leaves behind, GC or a VM slowdown that outlasts it, then falls on
// each side alike), summarised by the median.

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Pair `r` of a series: runs `a` first when r is even, `b` first when it is odd, with `between`
 * (e.g. a pause for the first side's threads to stop spinning) between them; results in argument order.
 */
export async function inTurn<A, B>(r: number, a: () => Promise<A>, b: () => Promise<B>, between?: () => Promise<unknown>): Promise<[A, B]> {
  if (r % 2) {
    const rb = await b();
    await between?.();
    return [await a(), rb];
  }
  const ra = await a();
  await between?.();
  return [ra, await b()];
}
