// The shapes of the API's answers, for clients (the CLI, later the dashboard).

export type { EnvironmentStatus, InstanceView, ReleaseView, RolloutView } from '../engine/status-view.ts';
export type { RolloutEventRecord } from '../core/records.ts';
