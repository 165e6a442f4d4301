//! `ruc-warm`, built inside this test crate so that the end-to-end tests
//! run the current code (`CARGO_BIN_EXE_warm-under-test`).

fn main() -> std::process::ExitCode {
    ruc_warm::main()
}
