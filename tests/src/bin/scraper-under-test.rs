//! The scraper binary, built inside this test crate so that `cargo test`
//! always runs the end-to-end tests against the current code
//! (`CARGO_BIN_EXE_scraper-under-test`). Same entry point as `scraper`.

fn main() -> std::process::ExitCode {
    scraper::app::main()
}
