//! End-to-end tests of the `syncfn` binary against the loopback CRM (issue 2, "What it must
//! show"). One test binary, one module per guarantee.

mod common;

mod bad_input;
mod cli;
mod concurrency;
mod crash_safety;
mod deletes;
mod demo;
mod incremental;
mod memory;
