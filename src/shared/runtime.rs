//! The async runtime every subcommand (run, gateway, idp, …) starts on.

/// The multi-threaded tokio runtime a subcommand runs on; on failure the error is printed
/// and the exit code (1) returned.
pub fn async_runtime() -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::from(1)
        })
}
