fn main() -> std::process::ExitCode {
    proxy::app::main()
}
