import type { ConsumerObserver } from "./consumer.ts";

/** One observer that tells several. */
export function fanOut(...observers: ConsumerObserver[]): ConsumerObserver {
  return {
    batchSettled: (results, seconds) => {
      for (const o of observers) o.batchSettled?.(results, seconds);
    },
    readCompleted: () => {
      for (const o of observers) o.readCompleted?.();
    },
    batchCommitted: () => {
      for (const o of observers) o.batchCommitted?.();
    },
    commitFailed: (error) => {
      for (const o of observers) o.commitFailed?.(error);
    },
    deadLettersWritten: (letters) => {
      for (const o of observers) o.deadLettersWritten?.(letters);
    },
    redisDown: (error) => {
      for (const o of observers) o.redisDown?.(error);
    },
    redisUp: () => {
      for (const o of observers) o.redisUp?.();
    },
  };
}
