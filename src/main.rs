//! The `syncfn` binary: the bundled integrations, handed to the runtime's CLI.

use std::process::ExitCode;

fn main() -> ExitCode {
    let registry = sync_runtime::Registry::new()
        .register(syncfn_github::integration())
        .register(syncfn_hubspot::integration())
        .register(syncfn_stripe::integration())
        .register(syncfn_zendesk::integration())
        .register(syncfn_example_contacts::integration())
        .register(syncfn_bench::integration());
    sync_runtime::cli::main(registry)
}
