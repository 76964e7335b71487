/**
 * Runs tasks with at most `limit` in flight; resolves with their results in order. After a
 * failure no new task starts, and the first error is thrown only once every started task has
 * finished, so a failed update never has a write still landing after it returned. Used by the
 * queue update's writes and the pool launch pass's locks.
 */
export async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let nextIndex = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && nextIndex < tasks.length) {
      const index = nextIndex++;
      const task = tasks[index];
      if (task === undefined) continue;
      try {
        results[index] = await task();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
