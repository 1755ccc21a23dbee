-- Custom SQL migration file, put your code below! --
-- Data only (drizzle-kit generate --custom): every enrollment of the previous release is
-- active and gets a succeeded payment row for the trace_id that granted it, paid when it was
-- granted, so a later refund of that payment finds it.
INSERT INTO `course_payments` (`trace_id`, `tenant_id`, `user_id`, `course_id`, `language`, `state`, `paid_at`)
SELECT `trace_id`, `tenant_id`, `user_id`, `course_id`, `language`, 'succeeded', `granted_at`
FROM `course_enrollments` WHERE true ORDER BY `id`
ON CONFLICT DO NOTHING;
--> statement-breakpoint
UPDATE `course_enrollments` SET `status` = 'active' WHERE `status` IS NOT 'active';
