CREATE TABLE `course_payments` (
	`trace_id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`user_id` text NOT NULL,
	`course_id` text NOT NULL,
	`language` text,
	`state` text NOT NULL,
	`paid_at` integer,
	`reversal_trace_id` text,
	`reversed_at` integer
);
--> statement-breakpoint
CREATE INDEX `course_payments_user_tenant_course` ON `course_payments` (`user_id`,`tenant_id`,`course_id`);--> statement-breakpoint
DROP INDEX `course_enrollments_tenant_user_course`;--> statement-breakpoint
ALTER TABLE `course_enrollments` ADD `revoked_at` integer;--> statement-breakpoint
ALTER TABLE `course_enrollments` ADD `revoked_by_trace_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `course_enrollments_user_tenant_course` ON `course_enrollments` (`user_id`,`tenant_id`,`course_id`);