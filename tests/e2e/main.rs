//! End-to-end tests: the real `nimbus` binary, real HTTP, real guest components.
//! Build the guests first (`make guests`; `make test` does it).

mod auth;
mod backends;
mod backup;
mod cli;
mod crash_leftovers;
mod edge;
mod events;
mod events_durability;

mod grants;
mod harness;
mod host_log;
mod hostile_clients;
mod hostile_guests;
mod instances;
mod key_value;
mod limits;
mod local_users;
mod log_format;
mod manifest_errors;
mod metrics;
mod object_grants;
mod objects;
mod otlp;
mod rate_limits;
mod routing;
mod scale_to_zero;
mod secrets;
mod shutdown;
mod slow_clients;
mod storage;
mod supabase;
mod thumbnails;
mod trace_context;
mod usage;
mod versions;
