//! The proxy binary, built inside this test crate so that `cargo test`
//! always runs the end-to-end tests against the current code
//! (`CARGO_BIN_EXE_proxy-under-test`). Same entry point as `proxy`.

fn main() -> std::process::ExitCode {
    proxy::app::main()
}
