CREATE TABLE `course_enrollments` (
	`id` integer PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`user_id` text NOT NULL,
	`actor_id` text NOT NULL,
	`course_id` text NOT NULL,
	`language` text,
	`status` text DEFAULT 'active' NOT NULL,
	`trace_id` text NOT NULL,
	`granted_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `course_enrollments_tenant_user_course` ON `course_enrollments` (`tenant_id`,`user_id`,`course_id`);--> statement-breakpoint
CREATE TABLE `processed_events` (
	`subscriber_name` text NOT NULL,
	`trace_id` text NOT NULL,
	`event_type` text NOT NULL,
	`stream_entry_id` text NOT NULL,
	`payload_hash` text NOT NULL,
	`outcome` text NOT NULL,
	`processed_at` integer NOT NULL,
	PRIMARY KEY(`subscriber_name`, `trace_id`)
);
