//! `ruc-warm`; see the library's documentation.

fn main() -> std::process::ExitCode {
    ruc_warm::main()
}
