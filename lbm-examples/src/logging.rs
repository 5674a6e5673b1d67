//! The programs' logger: the runtime reports through the `log` crate (a fallback to the
//! CPU, for instance), and a library must not choose where that goes; a program does.

/// Sends log records to standard error, from `info` up unless `RUST_LOG` says otherwise
/// (`RUST_LOG=warn` quietens the notices, `RUST_LOG=debug` shows more).
///
/// Call it first in `main`. A second call, or a logger installed by someone else, leaves
/// the first logger in place.
pub fn init() {
    let env = env_logger::Env::default().default_filter_or("info");
    // The only failure is a logger already set, which is the one the caller wanted.
    let _ = env_logger::Builder::from_env(env)
        .target(env_logger::Target::Stderr)
        .try_init();
}
