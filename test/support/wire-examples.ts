/**
 * The README's flat-form example, as ioredis hands it over:
 * `redis-cli XADD brain.events.paycore '*' event_type paycore.payment_succeeded trace_id evt_1
 * tenant_id t1 user_id u1 metadata '{"course_id":"c1"}'`.
 */
export const README_FLAT_ENTRY: readonly string[] = Object.freeze([
  "event_type",
  "paycore.payment_succeeded",
  "trace_id",
  "evt_1",
  "tenant_id",
  "t1",
  "user_id",
  "u1",
  "metadata",
  '{"course_id":"c1"}',
]);
