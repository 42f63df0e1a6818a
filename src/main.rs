//! gatebench: load tests and benchmarks for S3 storage behind an API gateway. The
//! command line lives in `gatebench::cli`.

fn main() -> std::process::ExitCode {
    gatebench::cli::main()
}
